"""Assignment: the new and the previous assignee hear of it, nobody else.

Events are made by the real services and delivered the way the worker
delivers them (`bus.run`, with its ledger), in the test process.
"""

from __future__ import annotations

import pytest

from events_app import names
from events_app.models import Notification
from events_app.reactions.assignment import notify_assignment
from tasks_app import services
from tests.events_app.bus_helpers import (
    deliver,
    deliver_since,
    events_since,
    notified,
    outbox_mark,
    recipients,
)
from tests.fixtures.factories import World, make_task

pytestmark = pytest.mark.django_db


def test_assigning_a_task_notifies_the_new_assignee(world: World) -> None:
    task = make_task(world.matter, "Draft letter before claim", actor=world.alice)
    mark = outbox_mark()

    services.task_assign(actor=world.alice, task_id=task.pk, assignee=world.bob)
    deliver_since(mark)

    [notification] = notified(world.bob)
    assert notification.verb == Notification.Verb.ASSIGNED
    assert (
        notification.summary == "Alice Hartley assigned you “Draft letter before claim”"
    )
    assert notification.url == f"/tasks/{task.pk}/"
    assert notification.event["name"] == names.TASK_ASSIGNED
    assert notification.read_at is None
    assert recipients() == {"bob"}


def test_assigning_yourself_notifies_nobody(world: World) -> None:
    task = make_task(world.matter, actor=world.alice)
    mark = outbox_mark()

    services.task_assign(actor=world.bob, task_id=task.pk, assignee=world.bob)
    deliver_since(mark)

    assert Notification.objects.count() == 0


def test_creating_a_task_for_someone_notifies_them(world: World) -> None:
    mark = outbox_mark()
    task = make_task(world.matter, "Serve claim", actor=world.alice, assignee=world.bob)
    make_task(world.matter, "My own", actor=world.alice, assignee=world.alice)
    make_task(world.matter, "Nobody's", actor=world.alice)
    deliver_since(mark)

    [notification] = notified(world.bob)
    assert notification.summary == "Alice Hartley assigned you “Serve claim”"
    assert notification.event["subject"]["id"] == task.pk
    assert recipients() == {"bob"}


def test_reassignment_tells_the_new_and_the_previous_assignee(world: World) -> None:
    task = make_task(world.matter, "Index", actor=world.alice, assignee=world.carol)
    mark = outbox_mark()

    services.task_assign(actor=world.alice, task_id=task.pk, assignee=world.bob)
    deliver_since(mark)

    assert [n.verb for n in notified(world.bob)] == ["assigned"]
    [carol] = notified(world.carol)
    assert carol.verb == Notification.Verb.UNASSIGNED
    assert carol.summary == "Alice Hartley reassigned “Index” to Bob Stone"


def test_handing_your_own_task_on_tells_only_the_new_assignee(world: World) -> None:
    task = make_task(world.matter, actor=world.alice, assignee=world.carol)
    mark = outbox_mark()

    services.task_assign(actor=world.carol, task_id=task.pk, assignee=world.bob)
    deliver_since(mark)

    assert recipients() == {"bob"}


def test_unassignment_tells_the_previous_assignee_unless_they_did_it(
    world: World,
) -> None:
    first = make_task(world.matter, "First", actor=world.alice, assignee=world.carol)
    second = make_task(world.matter, "Second", actor=world.alice, assignee=world.carol)
    mark = outbox_mark()

    services.task_assign(actor=world.alice, task_id=first.pk, assignee=None)
    services.task_assign(actor=world.carol, task_id=second.pk, assignee=None)
    deliver_since(mark)

    [notification] = notified(world.carol)
    assert notification.summary == "Alice Hartley unassigned you from “First”"
    assert notification.event_name == names.TASK_UNASSIGNED
    assert recipients() == {"carol"}


def test_a_task_assigned_once_done_asks_nothing_of_anyone(world: World) -> None:
    """Completing and reassigning in one save (filing it under Bob's name), or
    assigning a done task: there is no work to tell Bob of."""
    task = make_task(world.matter, actor=world.alice, status="IN_PROGRESS")
    done = make_task(world.matter, actor=world.alice, status="DONE")
    mark = outbox_mark()

    services.task_update(
        actor=world.alice, task_id=task.pk, status="DONE", assignee=world.bob
    )
    services.task_assign(actor=world.alice, task_id=done.pk, assignee=world.bob)
    events = deliver_since(mark)

    assert [e["name"] for e in events] == [
        names.TASK_COMPLETED,
        names.TASK_ASSIGNED,
        names.TASK_ASSIGNED,
    ]
    assert notified(world.bob) == []


def test_a_task_created_done_for_someone_tells_them_nothing(world: World) -> None:
    mark = outbox_mark()
    make_task(world.matter, actor=world.alice, assignee=world.bob, status="DONE")
    deliver_since(mark)

    assert notified(world.bob) == []


def test_an_event_delivered_twice_leaves_one_notification(world: World) -> None:
    task = make_task(world.matter, actor=world.alice)
    mark = outbox_mark()
    services.task_assign(actor=world.alice, task_id=task.pk, assignee=world.bob)
    [event] = events_since(mark)

    assert "notify_assigned" in deliver([event])
    assert deliver([event]) == []  # the ledger refuses every handler again
    notify_assignment(event)  # and the effect itself is idempotent

    assert len(notified(world.bob)) == 1


def test_an_assignee_walled_off_before_delivery_hears_nothing(world: World) -> None:
    task = make_task(world.walled, "Privileged advice", actor=world.alice)
    mark = outbox_mark()
    services.task_assign(actor=world.alice, task_id=task.pk, assignee=world.bob)
    world.walled.members.remove(world.bob)

    deliver_since(mark)

    assert Notification.objects.count() == 0
