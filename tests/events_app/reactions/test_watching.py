"""The creator and each new assignee watch a task.

Events are made by the real services and delivered the way the worker
delivers them (`bus.run`, with its ledger), in the test process.
"""

from __future__ import annotations

import pytest
from django.http import Http404

from tasks_app import services
from tests.events_app.bus_helpers import (
    deliver,
    deliver_since,
    outbox_mark,
)
from tests.fixtures.factories import World, make_task

pytestmark = pytest.mark.django_db


def test_creator_and_assignee_start_watching_a_new_task(world: World) -> None:
    mark = outbox_mark()
    task = make_task(world.matter, actor=world.alice, assignee=world.bob)
    deliver_since(mark)

    watchers = set(task.watches.values_list("user__username", flat=True))
    assert watchers == {"alice", "bob"}


def test_a_new_assignee_starts_watching(world: World) -> None:
    task = make_task(world.matter, actor=world.alice)
    mark = outbox_mark()
    services.task_assign(actor=world.alice, task_id=task.pk, assignee=world.carol)
    deliver_since(mark)

    assert task.watches.filter(user=world.carol).exists()


def test_unwatching_sticks_when_the_event_is_delivered_again(world: World) -> None:
    mark = outbox_mark()
    task = make_task(world.matter, actor=world.alice, assignee=world.bob)
    events = deliver_since(mark)
    services.task_unwatch(actor=world.bob, task_id=task.pk)

    deliver(events)

    assert not task.watches.filter(user=world.bob).exists()


def test_watching_twice_is_one_watch_and_walls_hold(world: World) -> None:
    task = make_task(world.walled, actor=world.alice)
    services.task_watch(actor=world.bob, task_id=task.pk)
    services.task_watch(actor=world.bob, task_id=task.pk)
    assert task.watches.filter(user=world.bob).count() == 1

    with pytest.raises(Http404):
        services.task_watch(actor=world.walt, task_id=task.pk)
    with pytest.raises(Http404):
        services.task_watch(actor=world.oscar, task_id=task.pk)
    services.task_unwatch(actor=world.bob, task_id=task.pk)
    services.task_unwatch(actor=world.bob, task_id=task.pk)
    assert not task.watches.exists()
