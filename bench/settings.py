"""Bench-only settings: the project's, plus the history libraries and copies.

PostgreSQL and a Redis broker are the bench's defaults (override with
DATABASE_URL and REDIS_URL). Celery is not eager, as in production: a
tracked write wakes the relay with the `pg_notify` its outbox INSERT
carries, and no task runs inline. DEBUG is off so Django does not record
every query.
"""

import os

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/hl_bench")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/12")

from hivelight.settings import *  # noqa: F403
from hivelight.settings import INSTALLED_APPS, REDIS_URL

DEBUG = False
INSTALLED_APPS = [
    *INSTALLED_APPS,
    "simple_history",
    "auditlog",
    "pgtrigger",
    "pghistory",
    "bench.benchapp",
]
CELERY_BROKER_URL = REDIS_URL
CELERY_TASK_ALWAYS_EAGER = False
LOGGING = {**LOGGING, "root": {**LOGGING["root"], "level": "WARNING"}}  # noqa: F405
