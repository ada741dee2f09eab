"""Helpers for tests of handlers: read events from the outbox, deliver them.

`deliver` does what the relay and the worker do with an event, in the test
process: every matching handler runs through `bus.run`, with its ledger.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from events_app import bus
from events_app.models import Notification, OutboxEvent


def outbox_mark() -> int:
    """The newest outbox row now; later rows are the events of what follows."""
    last = OutboxEvent.objects.order_by("-seq").values_list("seq", flat=True).first()
    return last or 0


def events_since(mark: int, name: str | None = None) -> list[dict[str, Any]]:
    rows = OutboxEvent.objects.filter(seq__gt=mark).order_by("seq")
    if name is not None:
        rows = rows.filter(name=name)
    return [row.payload for row in rows]


def deliver(events: Iterable[dict[str, Any]]) -> list[str]:
    """Run every matching handler on each event; return the handler names run."""
    ran = []
    for event in events:
        for sub in bus.handlers_for(event["name"]):
            if bus.run(sub.name, event):
                ran.append(sub.name)
    return ran


def deliver_since(mark: int) -> list[dict[str, Any]]:
    """Deliver the events written after `mark` (not those the handlers write)."""
    events = events_since(mark)
    deliver(events)
    return events


def notified(user: Any) -> list[Notification]:
    """A person's notifications, oldest first."""
    return list(Notification.objects.filter(recipient=user).order_by("id"))


def recipients() -> set[str]:
    """The usernames of everyone notified of anything."""
    return set(Notification.objects.values_list("recipient__username", flat=True))
