"""The event pipeline's composition root: wires capture, reactions and workers.

Everything is connected here, once Django's app registry is ready: models
cannot be imported earlier, which is why these imports sit in `ready()`.
"""

from django.apps import AppConfig


class EventsAppConfig(AppConfig):
    name = "events_app"
    verbose_name = "Events"

    def ready(self) -> None:
        # Inside ready(): each of these imports tasks_app's models.
        from events_app import (
            bus,
            eventbridge,
            tasks,  # noqa: F401  (registers the Celery tasks)
        )
        from events_app.capture import signals, specs
        from events_app.outbox.wakeup import OutboxListenerStep
        from events_app.reactions import subscriptions
        from events_app.webhooks import fanout
        from hivelight.celery import app

        specs.register()
        signals.connect()
        subscriptions.connect()
        bus.add_target("webhooks", fanout.fan_out)
        bus.add_target("eventbridge", eventbridge.forward)
        app.steps["worker"].add(OutboxListenerStep)
