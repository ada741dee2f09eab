"""Waking the relay: on PostgreSQL the commit itself tells the workers.

With workers (Celery not eager), the outbox INSERT carries `pg_notify`,
which PostgreSQL delivers once per committed transaction and never for a
rolled-back one; a request publishes nothing to the broker. These tests
commit for real and listen on a second connection, as a worker does.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import psycopg
import pytest
import redis
from django.conf import settings
from django.db import connection, transaction

from events_app import names
from events_app.models import OutboxEvent
from events_app.outbox import wakeup
from tasks_app import services
from tests.conftest import service_unavailable
from tests.events_app.outbox.test_relay import entity_items
from tests.fixtures.factories import make_task
from tests.fixtures.worker import celery_eager

pytestmark = pytest.mark.services


@pytest.fixture(autouse=True)
def _postgresql_only(transactional_db):
    if connection.vendor != "postgresql":
        service_unavailable("NOTIFY wake-ups are PostgreSQL's")


@contextlib.contextmanager
def listening() -> Iterator[psycopg.Connection]:
    params = connection.get_connection_params()
    with psycopg.connect(**params, autocommit=True) as listener:
        listener.execute(f"LISTEN {wakeup.NOTIFY_CHANNEL}")
        yield listener


def heard(listener: psycopg.Connection) -> int:
    return sum(1 for _ in listener.notifies(timeout=0.5))


def broker_messages() -> int:
    """Messages waiting in the broker's default queue."""
    return redis.Redis.from_url(settings.CELERY_BROKER_URL).llen("celery")


@pytest.fixture
def broker_mode():
    """Non-eager Celery, as in production: relays are woken by NOTIFY."""
    if not settings.REDIS_URL:
        service_unavailable("a broker (REDIS_URL)")
    with celery_eager(False):
        yield


def test_a_commit_notifies_once_and_a_rollback_never(world, broker_mode):
    task = make_task(world.matter, actor=world.alice)
    queued = broker_messages()
    with listening() as listener:
        with transaction.atomic():
            services.task_update(actor=world.bob, task_id=task.pk, title="One")
            services.task_update(actor=world.bob, task_id=task.pk, title="Two")
            assert heard(listener) == 0  # delivered at commit, not before
        assert heard(listener) == 1  # one per committed transaction
        # The request itself published nothing: the worker does, on NOTIFY.
        assert broker_messages() == queued

        with contextlib.suppress(RuntimeError), transaction.atomic():
            services.task_update(actor=world.bob, task_id=task.pk, title="Three")
            raise RuntimeError("abort")
        assert heard(listener) == 0

        with transaction.atomic():
            sid = transaction.savepoint()
            services.task_update(actor=world.bob, task_id=task.pk, title="Four")
            transaction.savepoint_rollback(sid)
        assert heard(listener) == 0  # the only write was undone


def test_a_write_outside_any_transaction_notifies_as_it_commits(
    client, world, broker_mode
):
    """A failed login records its event in autocommit mode: stored and heard."""
    with listening() as listener:
        client.post("/login/", {"username": "alice", "password": "wrong-secret-123"})
        assert heard(listener) == 1
    other = psycopg.connect(**connection.get_connection_params(), autocommit=True)
    with other:
        (count,) = other.execute(
            "SELECT count(*) FROM events_app_outboxevent WHERE name = %s",
            [names.USER_LOGIN_FAILED],
        ).fetchone()
    assert count == 1


def test_the_worker_relays_a_commit_it_only_heard_about(
    event_store, celery_worker, world
):
    """No publish from this process: the worker's listener wakes the relay."""
    celery_worker.wait_for(
        lambda: not OutboxEvent.objects.filter(dispatched_at__isnull=True).exists(),
        timeout=30,
        message="the world's own events relayed",
    )
    task = make_task(world.matter, actor=world.alice, title="Heard")
    celery_worker.wait_for(
        lambda: entity_items(world.firm.pk, "task", task.pk),
        timeout=15,
        message="the task's event in the store",
    )
    assert "outbox listener" in celery_worker.log()
