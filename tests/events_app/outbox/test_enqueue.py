"""The outbox is exactly transactional: what the database keeps has its events.

A rollback matrix: each way a change can be undone (an exception in
`atomic`, a nested `atomic`, a manual savepoint rolled back, a raw
rollback, an exception in a service after its save, a COMMIT that fails)
against the outbox and the event store after the relay. Both must hold
exactly the events of what was committed. The matrix runs on the suite's
database and, in a second pytest process, on the other one (PostgreSQL and
SQLite).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import signals

from events_app import names, store
from events_app.models import OutboxEvent
from events_app.outbox.enqueue import enqueue
from tasks_app import services
from tasks_app.models import Task
from tests.conftest import service_unavailable
from tests.fixtures.factories import make_task
from tests.fixtures.worker import celery_eager

pytestmark = pytest.mark.services

BASE_DIR = Path(__file__).resolve().parents[3]
OTHER_DATABASE = "HIVELIGHT_MATRIX_RUN"


@pytest.fixture
def matrix(transactional_db, event_store, world):
    """A committed task, relayed inline after each commit as in `make run`."""
    with celery_eager(True):
        task = make_task(world.matter, actor=world.alice, title="Draft")
        yield world, task


def outbox_names(task: Task) -> list[str]:
    return list(
        OutboxEvent.objects.filter(entity_key=f"task:{task.pk}")
        .order_by("seq")
        .values_list("name", flat=True)
    )


def stored_names(world, task: Task) -> list[str]:
    page = store.query_entity_history(
        firm=f"f_{world.firm.pk}",
        subject_type="task",
        subject_id=task.pk,
        newest_first=False,
    )
    return [event["name"] for event in page.items]


def assert_recorded(world, task: Task, expected: list[str]) -> None:
    """The outbox and the store hold exactly `expected`, all relayed."""
    assert outbox_names(task) == expected
    assert not OutboxEvent.objects.filter(dispatched_at__isnull=True).exists()
    assert stored_names(world, task) == expected


def test_an_exception_inside_atomic_leaves_no_event(matrix):
    world, task = matrix
    with contextlib.suppress(RuntimeError), transaction.atomic():
        services.task_update(actor=world.bob, task_id=task.pk, title="Gone")
        raise RuntimeError("abort")
    assert Task.objects.get(pk=task.pk).title == "Draft"
    assert_recorded(world, task, [names.TASK_CREATED])


def test_a_rolled_back_nested_atomic_keeps_only_the_outer_events(matrix):
    world, task = matrix
    with transaction.atomic():
        services.task_update(actor=world.bob, task_id=task.pk, title="Kept")
        with contextlib.suppress(RuntimeError), transaction.atomic():
            services.task_assign(actor=world.bob, task_id=task.pk, assignee=world.carol)
            raise RuntimeError("inner abort")
    row = Task.objects.get(pk=task.pk)
    assert (row.title, row.assignee_id) == ("Kept", None)
    assert_recorded(world, task, [names.TASK_CREATED, names.TASK_UPDATED])


def test_a_manual_savepoint_rollback_takes_its_events_with_it(matrix):
    world, task = matrix
    with transaction.atomic():
        sid = transaction.savepoint()
        services.task_update(actor=world.bob, task_id=task.pk, title="Undone")
        transaction.savepoint_rollback(sid)
        services.task_assign(actor=world.bob, task_id=task.pk, assignee=world.carol)
    row = Task.objects.get(pk=task.pk)
    assert (row.title, row.assignee_id) == ("Draft", world.carol.pk)
    assert_recorded(world, task, [names.TASK_CREATED, names.TASK_ASSIGNED])


def test_a_raw_rollback_of_a_manual_transaction_leaves_no_event(matrix):
    world, task = matrix
    transaction.set_autocommit(False)
    try:
        # A plain save, no atomic: on SQLite a savepoint would commit at once.
        row = Task.objects.get(pk=task.pk)
        row.title = "Rolled back"
        row.last_modified_by = world.bob
        row.save()
        transaction.rollback()
    finally:
        transaction.set_autocommit(True)
    assert Task.objects.get(pk=task.pk).title == "Draft"
    assert_recorded(world, task, [names.TASK_CREATED])


def test_an_exception_in_a_service_after_its_save_leaves_no_event(matrix):
    world, task = matrix

    def fail_after_save(sender, instance, **kwargs):
        if instance.title == "Boom":
            raise RuntimeError("something after the save failed")

    # Connected after capture's receiver: the event is already in the outbox.
    signals.post_save.connect(fail_after_save, sender=Task, weak=False)
    try:
        with pytest.raises(RuntimeError):
            services.task_update(actor=world.bob, task_id=task.pk, title="Boom")
    finally:
        signals.post_save.disconnect(fail_after_save, sender=Task)
    assert Task.objects.get(pk=task.pk).title == "Draft"
    assert_recorded(world, task, [names.TASK_CREATED])


def test_a_commit_that_fails_leaves_neither_the_change_nor_its_events(matrix):
    world, task = matrix
    # Foreign keys are checked at COMMIT (deferred) on both databases.
    with pytest.raises(IntegrityError), transaction.atomic():
        services.task_update(actor=world.bob, task_id=task.pk, title="Orphaned")
        Task.objects.filter(pk=task.pk).update(milestone_id=10**9)
    assert Task.objects.get(pk=task.pk).title == "Draft"
    assert_recorded(world, task, [names.TASK_CREATED])


def test_a_committed_change_has_each_of_its_events_once(matrix):
    world, task = matrix
    with transaction.atomic():
        services.task_update(actor=world.bob, task_id=task.pk, title="One")
        services.task_move(actor=world.bob, task_id=task.pk, status="DONE")
    assert_recorded(
        world, task, [names.TASK_CREATED, names.TASK_UPDATED, names.TASK_COMPLETED]
    )


def test_reads_inside_the_transaction_see_its_own_events(matrix):
    world, task = matrix
    with transaction.atomic():
        services.task_update(actor=world.bob, task_id=task.pk, title="Seen")
        assert outbox_names(task) == [names.TASK_CREATED, names.TASK_UPDATED]


def test_a_duplicate_event_id_fails_the_write_and_its_transaction(matrix):
    world, task = matrix
    event = OutboxEvent.objects.get(entity_key=f"task:{task.pk}").payload
    with pytest.raises(IntegrityError), transaction.atomic():
        services.task_update(actor=world.bob, task_id=task.pk, title="Never")
        enqueue([event])
    assert Task.objects.get(pk=task.pk).title == "Draft"
    assert_recorded(world, task, [names.TASK_CREATED])


def test_the_matrix_holds_on_the_other_database(transactional_db, tmp_path):
    """This module again, in a second pytest on the database this run is not on."""
    if os.environ.get(OTHER_DATABASE):
        pytest.skip("already the second run")
    if connection.vendor == "postgresql":
        url = f"sqlite:///{tmp_path / 'matrix.sqlite3'}"
    else:
        url = "postgres://postgres@127.0.0.1:5432/hivelight_matrix"
        probe = subprocess.run(
            [
                sys.executable,
                "-c",
                "import socket; socket.create_connection("
                "('127.0.0.1', 5432), 1).close()",
            ],
            capture_output=True,
        )
        if probe.returncode:
            service_unavailable("PostgreSQL for the second matrix run")
    env = {**os.environ, "DATABASE_URL": url, OTHER_DATABASE: "1"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-k",
            "not other_database",
            str(Path(__file__).relative_to(BASE_DIR)),
        ],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "skipped" not in result.stdout
