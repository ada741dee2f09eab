"""Events that are not row changes: logins, failed logins, page views."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.core.cache import cache

from events_app import context, envelope, names
from events_app.capture.core import context_of
from events_app.outbox.enqueue import enqueue


def record(
    *,
    name: str,
    firm_id: int | None,
    actor: dict[str, Any],
    subject: dict[str, Any],
    matter: dict[str, Any] | None = None,
    changes: dict[str, Any] | None = None,
    parent: dict[str, Any] | None = None,
    occurred_at: dt.datetime | None = None,
) -> dict[str, Any]:
    """Record an event that is not a row change, in the current transaction."""
    event = envelope.build(
        name=name,
        occurred_at=occurred_at or context.now(),
        firm_id=firm_id,
        actor=actor,
        subject=subject,
        matter=matter,
        changes=changes or {},
        context=context_of(context.current()),
        parent=parent,
    )
    enqueue([event])
    return event


def record_task_viewed(*, user: Any, task: Any) -> dict[str, Any] | None:
    """Record `task.viewed`, at most once per user and task per window.

    The window (settings.TASK_VIEWED_WINDOW_SECONDS) is kept in the cache,
    whose `add` is atomic, so two tabs opening a task record one view.
    """
    window = settings.TASK_VIEWED_WINDOW_SECONDS
    if not cache.add(f"hl:viewed:{user.pk}:{task.pk}", 1, timeout=window):
        return None
    matter = task.matter
    return record(
        name=names.TASK_VIEWED,
        firm_id=matter.firm_id,
        actor={"id": user.pk, "name": user.display_name},
        subject={"type": "task", "id": task.pk, "label": task.title},
        matter={"id": matter.pk, "label": f"{matter.number} {matter.name}"},
    )
