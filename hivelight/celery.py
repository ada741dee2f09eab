"""The Celery application: the event bus and the outbox relay run on it.

Imports nothing from the apps: they register their tasks and worker steps
when Django is ready (events_app.apps).
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hivelight.settings")

app = Celery("hivelight")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
