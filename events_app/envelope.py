"""Building event envelopes: time-ordered ids, tenant keys, actor and labels.

An envelope is self-contained: it carries ids and display labels, so a
consumer never needs the live row (which may be deleted by then).
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

from events_app.names import ENVELOPE_VERSION

SYSTEM_ACTOR = {"id": None, "name": "system"}
# In `context` of a backdated event only (written with a historic time by
# the demo seed): when it was really recorded.
RECORDED_AT = "recorded_at"


def uuid7(at: dt.datetime | None = None) -> str:
    """An RFC 9562 UUIDv7: 48-bit Unix milliseconds, then randomness."""
    moment = at or dt.datetime.now(dt.UTC)
    millis = int(moment.timestamp() * 1000) & ((1 << 48) - 1)
    rand = int.from_bytes(os.urandom(10), "big")
    value = (millis << 80) | (0x7 << 76) | ((rand >> 62) & 0xFFF) << 64
    value |= (0b10 << 62) | (rand & ((1 << 62) - 1))
    h = f"{value:032x}"  # the canonical 8-4-4-4-12 text, without a UUID object
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def firm_key(firm_id: int | None) -> str:
    """The tenant string of an event: `f_12`; `f_none` for firmless users."""
    return f"f_{firm_id}" if firm_id is not None else "f_none"


def firm_id_of(key: str | None) -> int | None:
    """`f_12` -> 12; `f_none` (or anything else) -> None."""
    if key and key.startswith("f_") and key[2:].isdigit():
        return int(key[2:])
    return None


def isoformat(moment: dt.datetime) -> str:
    """An aware datetime as events carry it: UTC, microseconds, `Z` (sorts as
    text in time order)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"expected an aware datetime, got naive {moment!r}")
    u = moment.astimezone(dt.UTC)
    # By hand, not strftime: %Y does not zero-pad years before 1000.
    return (
        f"{u.year:04d}-{u.month:02d}-{u.day:02d}T"
        f"{u.hour:02d}:{u.minute:02d}:{u.second:02d}.{u.microsecond:06d}Z"
    )


def parse_instant(text: str) -> dt.datetime:
    """The aware UTC datetime of an `isoformat` text."""
    return dt.datetime.fromisoformat(text[:26]).replace(tzinfo=dt.UTC)


def build(
    *,
    name: str,
    occurred_at: dt.datetime,
    firm_id: int | None,
    actor: dict[str, Any],
    subject: dict[str, Any],
    matter: dict[str, Any] | None,
    changes: dict[str, Any],
    context: dict[str, Any],
    parent: dict[str, Any] | None = None,
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "id": uuid7(occurred_at),
        "name": name,
        "version": ENVELOPE_VERSION,
        "occurred_at": isoformat(occurred_at),
        "firm": firm_key(firm_id),
        "actor": actor,
        "subject": subject,
        "matter": matter,
        "changes": changes,
        "context": context,
    }
    if parent is not None:
        event["parent"] = parent
    return event


def backdated(event: dict[str, Any]) -> bool:
    """Whether the event was written after the fact, with a historic time."""
    return RECORDED_AT in (event.get("context") or {})


def public(event: dict[str, Any]) -> dict[str, Any]:
    """The envelope as it leaves the app (the API, webhooks, EventBridge):
    without `context.client_id`, the browser tab's live channel name."""
    context = {
        k: v for k, v in (event.get("context") or {}).items() if k != "client_id"
    }
    return {**event, "context": context}
