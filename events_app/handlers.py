"""Reactions to events, registered on the bus. Each is idempotent.

Handlers receive the event envelope only; they never need the live row.
"""

from __future__ import annotations

from typing import Any

from events_app import bus, envelope, names


def matter_activity(event: dict[str, Any]) -> None:
    """Keep each matter's "last activity" stamp: the latest event it saw."""
    from tasks_app.models import Matter

    matter = event.get("matter")
    if not matter or event["name"] in names.HIDDEN_FROM_FEEDS:
        return
    when = envelope.parse_instant(event["occurred_at"])
    Matter.objects.filter(pk=matter["id"]).exclude(last_activity_at__gte=when).update(
        last_activity_at=when
    )


def connect() -> None:
    bus.subscribe("*", name="matter_activity")(matter_activity)
