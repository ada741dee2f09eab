"""Fixtures shared by the event pipeline's tests."""

from __future__ import annotations

import pytest

from events_app.live import groups
from tests.fixtures.worker import celery_eager


@pytest.fixture
def eager_celery():
    """Run Celery tasks queued after commit (the email) inline."""
    with celery_eager(True):
        yield


@pytest.fixture
def pushes(monkeypatch) -> list[tuple[int, dict]]:
    """What would reach users' open pages (live.groups.send_to_user calls)."""
    sent: list[tuple[int, dict]] = []
    monkeypatch.setattr(
        groups,
        "send_to_user",
        lambda user_id, payload: sent.append((user_id, payload)),
    )
    return sent
