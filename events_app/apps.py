"""App config for the event pipeline: capture, outbox, store, bus."""

from django.apps import AppConfig


class EventsAppConfig(AppConfig):
    name = "events_app"
    verbose_name = "Events"
