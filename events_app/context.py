"""Who is acting, and from where: a context carried by contextvars.

Web requests set it in middleware (source=web); the admin, management
commands and Celery work set it with `acting_as` (source=admin / shell /
system); handlers run as the system with `caused_by` set.

It also says when the work happens: now, except inside `acting_as(..., at=)`,
which only the demo seed uses to write a year of history through the real
services (see "Demo data" in docs/architecture.md). Nothing a request sends
reaches `at`: the middleware passes only a request id and a tab id.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from django.utils import timezone


@dataclass(frozen=True)
class EventContext:
    user_id: int | None = None
    user_name: str = "system"
    source: str = "shell"
    request_id: str = ""
    # The event whose handler is doing this work, if any.
    caused_by: str = ""
    # The browser tab's live channel (X-Live-Client), so that tab is spared
    # the echo of its own change; see events_app.live.groups.
    client_id: str = ""
    # Why, when the change is a consequence ("handover: Walt left the firm").
    reason: str = ""
    # When the work happened, if not now: a historic (backdated) write.
    occurred_at: dt.datetime | None = None


_current: contextvars.ContextVar[EventContext] = contextvars.ContextVar(
    "hivelight_event_context"
)
_DEFAULT = EventContext()


def current() -> EventContext:
    return _current.get(_DEFAULT)


def now() -> dt.datetime:
    """The time of the work at hand: the context's historic time, else now."""
    return current().occurred_at or timezone.now()


def new_request_id() -> str:
    return uuid.uuid4().hex


@contextlib.contextmanager
def acting_as(
    user: Any = None,
    *,
    source: str = "system",
    at: dt.datetime | None = None,
    **extra: Any,
) -> Iterator[EventContext]:
    """Attribute the writes inside the block to `user` (None: the system).

    With `at` (an aware time in the past), the writes happened then: their
    events carry that time and tracked rows get it as their timestamps.
    """
    if at is not None:
        if at.tzinfo is None or at.utcoffset() is None:
            raise ValueError(f"acting_as(at=) needs an aware datetime, not {at!r}")
        if at > timezone.now():
            raise ValueError("acting_as(at=) writes history; it cannot be in future")
        extra["occurred_at"] = at
    if user is not None and getattr(user, "is_authenticated", False):
        name = getattr(user, "display_name", None) or user.get_username()
        ctx = EventContext(user_id=user.pk, user_name=name, source=source)
    else:
        ctx = EventContext(source=source)
    if extra:
        ctx = replace(ctx, **extra)
    if not ctx.request_id:
        ctx = replace(ctx, request_id=new_request_id())
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)
