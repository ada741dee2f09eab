"""Events and checks shared by the store tests."""

from __future__ import annotations

import datetime as dt
import itertools
import zoneinfo
from collections import Counter
from typing import Any

from events_app import names
from events_app.envelope import isoformat, uuid7

UTC = dt.UTC
FIRM = "f_1"
OTHER_FIRM = "f_2"
NAMES = [
    "task.created",
    "task.updated",
    "task.started",
    "task.completed",
    "task.assigned",
    "task.moved",
    "comment.added",
    "milestone.completed",
    "user.logged_in",
]
_user_ids = itertools.count(1000)


def at(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def make_event(
    when: dt.datetime,
    name: str = "task.completed",
    *,
    firm: str = FIRM,
    actor_id: int | None = 7,
    subject_id: int = 1234,
    subject_type: str = "task",
    matter_id: int | None = 3,
    **extra: Any,
) -> dict[str, Any]:
    event = {
        "id": uuid7(when),
        "name": name,
        "version": 1,
        "occurred_at": isoformat(when),
        "firm": firm,
        "actor": {"id": actor_id, "name": "Bob" if actor_id else "system"},
        "subject": {"type": subject_type, "id": subject_id, "label": "My task"},
        "matter": (
            {"id": matter_id, "label": "Smith v Jones"}
            if matter_id is not None
            else None
        ),
        "changes": {"status": ["IN_PROGRESS", "DONE"]},
        "context": {"source": "web", "request_id": "r-1"},
    }
    event.update(extra)
    return event


def spread(
    start: dt.datetime, count: int, step: dt.timedelta, **kwargs: Any
) -> list[dict[str, Any]]:
    return [make_event(start + i * step, **kwargs) for i in range(count)]


def all_pages(query, **kwargs: Any) -> list[list[dict[str, Any]]]:
    pages, cursor = [], None
    while True:
        page = query(cursor=cursor, **kwargs)
        pages.append(page.items)
        if page.next_cursor is None:
            return pages
        cursor = page.next_cursor


def ids(events: list[dict[str, Any]]) -> list[str]:
    return [e["id"] for e in events]


def brute_force_daily(
    events: list[dict[str, Any]],
    tz: str,
    start_date: dt.date,
    end_date: dt.date,
    keep=lambda name: True,
) -> dict[str, int]:
    zone = zoneinfo.ZoneInfo(tz)
    counts: Counter[str] = Counter()
    for e in events:
        if not names.is_counted(e["name"]) or not keep(e["name"]):
            continue
        instant = dt.datetime.strptime(e["occurred_at"], "%Y-%m-%dT%H:%M:%S.%fZ")
        local = instant.replace(tzinfo=UTC).astimezone(zone).date()
        if start_date <= local <= end_date:
            counts[local.isoformat()] += 1
    return dict(sorted(counts.items()))
