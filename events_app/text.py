"""How people, labels and long text are written, everywhere an event is told.

Histories, notifications and emails all say who did what through these, so a
person reads the same name in each ("Hivelight" for the system, "user 7" for
someone whose name the event did not keep) and text is cut the same way.
"""

from __future__ import annotations

from typing import Any

SYSTEM_NAME = "Hivelight"


def actor_name(event: dict[str, Any]) -> str:
    """Who did it: their name as recorded, or "Hivelight" for the system."""
    actor = event.get("actor") or {}
    if actor.get("id") is None:
        return SYSTEM_NAME
    return actor.get("name") or f"user {actor['id']}"


def quoted(label: Any) -> str:
    """A label in typographic quotes: “My task” (“untitled” when empty)."""
    return f"“{label or 'untitled'}”"


def clip(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, ending in … when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def excerpt(text: str | None, limit: int) -> str:
    """`text` on one line (runs of whitespace as one space), clipped."""
    return clip(" ".join((text or "").split()), limit)
