"""The outbox on PostgreSQL: rows ride with COMMIT, and the commit wakes the relay.

Inside `atomic()` the outbox INSERT is sent in the COMMIT's round trip
(`events_app.backends.postgresql`), and with a broker a NOTIFY at commit
wakes the relay in the worker (`events_app.listener`). These tests commit for
real: what they check is what another connection sees afterwards.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import psycopg
import pytest
from django.db import IntegrityError, connection, transaction

from events_app import names, outbox
from events_app.context import acting_as
from events_app.models import OutboxEvent
from tasks_app import services
from tasks_app.models import Task
from tests.fixtures.factories import make_task
from tests.fixtures.worker import celery_eager

pytestmark = pytest.mark.services


@pytest.fixture(autouse=True)
def _postgresql_only(transactional_db):
    from tests.conftest import service_unavailable

    if connection.vendor != "postgresql":
        service_unavailable("the outbox's commit path is PostgreSQL's")


def committed_names(task_id: int) -> list[str]:
    """The task's outbox rows as another connection sees them: committed only."""
    params = connection.get_connection_params()
    with psycopg.connect(**params, autocommit=True) as other:
        rows = other.execute(
            "SELECT name FROM events_app_outboxevent "
            "WHERE entity_key = %s ORDER BY seq",
            [f"task:{task_id}"],
        ).fetchall()
    return [name for (name,) in rows]


def test_a_transactions_events_commit_with_it_and_not_before(world):
    task = make_task(world.matter, actor=world.alice, title="Draft")
    with transaction.atomic():
        services.task_update(actor=world.bob, task_id=task.pk, title="Final")
        assert committed_names(task.pk) == [names.TASK_CREATED]
    assert committed_names(task.pk) == [names.TASK_CREATED, names.TASK_UPDATED]


def test_reads_of_the_outbox_see_the_transactions_own_events(world):
    task = make_task(world.matter, actor=world.alice)
    with transaction.atomic():
        services.task_update(actor=world.bob, task_id=task.pk, title="Seen")
        mine = OutboxEvent.objects.filter(entity_key=f"task:{task.pk}")
        assert list(mine.values_list("name", flat=True)) == [
            names.TASK_CREATED,
            names.TASK_UPDATED,
        ]
        services.task_update(actor=world.bob, task_id=task.pk, title="Later")
    assert committed_names(task.pk) == [
        names.TASK_CREATED,
        names.TASK_UPDATED,
        names.TASK_UPDATED,
    ]


def test_a_rolled_back_savepoint_drops_only_its_own_events(world):
    task = make_task(world.matter, actor=world.alice, title="Draft")
    with transaction.atomic():
        with contextlib.suppress(RuntimeError), transaction.atomic():
            services.task_update(actor=world.bob, task_id=task.pk, title="Dropped")
            raise RuntimeError("inner abort")
        services.task_assign(actor=world.bob, task_id=task.pk, assignee=world.carol)
    assert committed_names(task.pk) == [names.TASK_CREATED, names.TASK_ASSIGNED]
    assert Task.objects.get(pk=task.pk).title == "Draft"


def test_an_outbox_write_that_fails_at_commit_rolls_the_change_back(world):
    task = make_task(world.matter, actor=world.alice, title="Draft")
    with pytest.raises(IntegrityError), transaction.atomic():
        with acting_as(world.bob, source="shell"):
            task = Task.objects.select_for_update().get(pk=task.pk)
            task.title = "Never saved"
            task.save()
        # The same event twice: the outbox's unique event id refuses the
        # second row when the INSERTs reach the server, at COMMIT.
        event = OutboxEvent.objects.filter(entity_key=f"task:{task.pk}").first()
        outbox.enqueue([event.payload])
    assert Task.objects.get(pk=task.pk).title == "Draft"
    assert committed_names(task.pk) == [names.TASK_CREATED]


@contextlib.contextmanager
def listening() -> Iterator[psycopg.Connection]:
    params = connection.get_connection_params()
    with psycopg.connect(**params, autocommit=True) as listener:
        listener.execute(f"LISTEN {outbox.NOTIFY_CHANNEL}")
        yield listener


def heard(listener: psycopg.Connection) -> int:
    return sum(1 for _ in listener.notifies(timeout=0.5))


@pytest.fixture
def broker_mode():
    """Non-eager Celery, as in production: relays are woken by NOTIFY."""
    with celery_eager(False):
        yield


def test_with_a_broker_a_commit_notifies_once_and_a_rollback_never(world, broker_mode):
    task = make_task(world.matter, actor=world.alice)
    with listening() as listener:
        with transaction.atomic():
            services.task_update(actor=world.bob, task_id=task.pk, title="One")
            services.task_update(actor=world.bob, task_id=task.pk, title="Two")
            # No on_commit publish: the web request pays no broker round trip.
            assert not any(
                func is outbox.schedule_relay for _, func, _ in connection.run_on_commit
            )
            assert heard(listener) == 0  # delivered at commit, not before
        assert heard(listener) == 1  # one per committed transaction

        with contextlib.suppress(RuntimeError), transaction.atomic():
            services.task_update(actor=world.bob, task_id=task.pk, title="Three")
            raise RuntimeError("abort")
        assert heard(listener) == 0


def test_the_worker_relays_a_commit_it_heard_about(event_store, celery_worker, world):
    """No publish from this process: the worker's listener wakes the relay."""
    from tests.events_app.test_relay import entity_items

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
