"""Set-up shared by the benchmarks that run the served shape (load, notify_latency).

`prepare()` points this process at a fresh event-table prefix and its own
PostgreSQL and Redis databases with production-like settings (no DEBUG, so
no query log; plain HTTP on loopback; mail going nowhere), then empties
them: the benchmark owns both databases. The processes it starts inherit
the same environment.
"""

from __future__ import annotations

import os
import secrets
import uuid


def prepare(*, dynamo_url: str, table_prefix: str, host: str, eager: bool) -> None:
    """Configure, create, migrate and empty the bench's databases; set up Django.

    `eager`: whether Celery runs tasks inline in this process (and in
    whatever inherits the environment without being told otherwise).
    """
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hivelight.settings")
    os.environ.update(
        DYNAMODB_ENDPOINT_URL=dynamo_url,
        EVENT_TABLE_PREFIX=f"{table_prefix}{uuid.uuid4().hex[:8]}_",
        CELERY_TASK_ALWAYS_EAGER="1" if eager else "0",
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(50),
        SECURE_SSL_REDIRECT="0",
        ALLOWED_HOSTS=host,
        EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend",
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    from hivelight.serve import ensure_database

    ensure_database(os.environ["DATABASE_URL"])

    import django

    django.setup()
    import redis
    from django.conf import settings
    from django.core.management import call_command

    from events_app import store

    redis.Redis.from_url(settings.REDIS_URL).flushdb()
    call_command("migrate", verbosity=0, interactive=False)
    call_command("flush", verbosity=0, interactive=False)
    store.ensure_tables()
