"""The Celery application: the event bus and the outbox relay run on it."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hivelight.settings")

app = Celery("hivelight")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def _add_outbox_listener() -> None:
    from events_app.listener import OutboxListenerStep

    app.steps["worker"].add(OutboxListenerStep)


_add_outbox_listener()
