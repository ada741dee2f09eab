"""A matter's "last activity" stamp follows the latest event it saw."""

from __future__ import annotations

from typing import Any

from events_app import envelope, names
from tasks_app.models import Matter


def matter_activity(event: dict[str, Any]) -> None:
    """Stamp the event's matter with its time, unless a later one is there."""
    matter = event.get("matter")
    if not matter or event["name"] in names.HIDDEN_FROM_FEEDS:
        return
    when = envelope.parse_instant(event["occurred_at"])
    # The plain manager: a derived stamp, not a change to record (the tracked
    # manager would capture it, and its event would stamp the matter again).
    Matter._base_manager.filter(pk=matter["id"]).exclude(
        last_activity_at__gte=when
    ).update(last_activity_at=when)
