"""Who is acting, and from where: a context carried by contextvars.

Web requests set it in middleware (source=web); the admin, management
commands and Celery work set it with `acting_as` (source=admin / shell /
system); handlers run as the system with `caused_by` set.
"""

from __future__ import annotations

import contextlib
import contextvars
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any


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


_current: contextvars.ContextVar[EventContext] = contextvars.ContextVar(
    "hivelight_event_context"
)
_DEFAULT = EventContext()


def current() -> EventContext:
    return _current.get(_DEFAULT)


def new_request_id() -> str:
    return uuid.uuid4().hex


@contextlib.contextmanager
def acting_as(
    user: Any = None, *, source: str = "system", **extra: Any
) -> Iterator[EventContext]:
    """Attribute the writes inside the block to `user` (None: the system)."""
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
