"""Helpers for tests of histories, calendars, audit and the API.

`pipeline` runs changes through the real path: services write, capture puts
events in the outbox, and on commit the relay (Celery, eager here) stores
them in DynamoDB Local and runs the handlers (a transactional test).
`envelope_event` builds an event to put straight into the store, for tests
about reading.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest

from events_app.envelope import firm_key, isoformat, uuid7
from tests.fixtures.worker import celery_eager

UTC = dt.UTC
_ids = itertools.count(90_000)


def at(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def envelope_event(
    when: dt.datetime,
    name: str = "task.completed",
    *,
    firm_id: int,
    actor: Any = None,
    subject_type: str = "task",
    subject_id: int | None = None,
    label: str = "My task",
    matter: Any = None,
    changes: dict[str, Any] | None = None,
    parent: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An envelope as capture builds it; `actor` and `matter` may be model rows."""
    event: dict[str, Any] = {
        "id": uuid7(when),
        "name": name,
        "version": 1,
        "occurred_at": isoformat(when),
        "firm": firm_key(firm_id),
        "actor": {"id": actor.pk, "name": actor.display_name}
        if actor is not None
        else {"id": None, "name": "system"},
        "subject": {
            "type": subject_type,
            "id": subject_id if subject_id is not None else next(_ids),
            "label": label,
        },
        "matter": {"id": matter.pk, "label": str(matter)} if matter else None,
        "changes": changes or {},
        "context": {"source": "web", "request_id": "r"},
    }
    if parent is not None:
        event["parent"] = parent
    return event


@pytest.fixture
def pipeline(transactional_db, event_store):
    """`with pipeline(): services...`: each commit relays its events eagerly.

    Transactional, so every service's commit runs its on_commit relay for
    real (the outbox schedules one relay per transaction, which a test
    wrapped in one transaction would share with its fixtures).
    """
    return lambda: celery_eager(True)


@contextlib.contextmanager
def frozen(moment: dt.datetime) -> Iterator[None]:
    """Django's clock (auto_now, capture, outbox) stands at `moment`."""
    with mock.patch("django.utils.timezone.now", return_value=moment):
        yield
