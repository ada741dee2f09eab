"""A milestone's progress follows its tasks.

Events are made by the real services and delivered the way the worker
delivers them (`bus.run`, with its ledger), in the test process.
"""

from __future__ import annotations

import pytest

from events_app import bus, names
from events_app.reactions.milestones import milestone_progress
from tasks_app import services
from tasks_app.models import Milestone
from tests.events_app.bus_helpers import (
    deliver,
    deliver_since,
    events_since,
    outbox_mark,
)
from tests.fixtures.factories import World, make_task

pytestmark = pytest.mark.django_db


def test_completing_the_last_task_completes_the_milestone_once(world: World) -> None:
    first = make_task(world.matter, actor=world.alice, milestone=world.milestone)
    second = make_task(world.matter, actor=world.alice, milestone=world.milestone)
    deliver_since(0)

    mark = outbox_mark()
    services.task_update(actor=world.alice, task_id=first.pk, status="DONE")
    deliver_since(mark)
    world.milestone.refresh_from_db()
    assert world.milestone.progress == 50

    mark = outbox_mark()
    services.task_update(actor=world.bob, task_id=second.pk, status="DONE")
    [completed_task] = deliver_since(mark)
    world.milestone.refresh_from_db()
    assert world.milestone.progress == 100
    [milestone_completed] = events_since(mark, names.MILESTONE_COMPLETED)
    assert milestone_completed["actor"]["id"] is None
    assert milestone_completed["context"]["caused_by"] == completed_task["id"]

    # Delivered again, run again by hand, and its own events delivered: no
    # second milestone.completed, and no handler reacts to milestone events.
    deliver([completed_task])
    milestone_progress(completed_task)
    after = outbox_mark()
    deliver(events_since(mark, names.MILESTONE_PROGRESS_CHANGED))
    deliver(events_since(mark, names.MILESTONE_COMPLETED))
    assert len(events_since(mark, names.MILESTONE_COMPLETED)) == 1
    assert events_since(after) == []


def test_reopening_a_task_lowers_progress(world: World) -> None:
    task = make_task(world.matter, actor=world.alice, milestone=world.milestone)
    mark = outbox_mark()
    services.task_update(actor=world.alice, task_id=task.pk, status="DONE")
    services.task_update(actor=world.alice, task_id=task.pk, status="IN_PROGRESS")
    deliver_since(mark)

    world.milestone.refresh_from_db()
    assert world.milestone.progress == 0


def test_moving_a_done_task_to_another_milestone_recomputes_both(world: World) -> None:
    other = Milestone.objects.create(matter=world.matter, name="Trial")
    done = make_task(
        world.matter, actor=world.alice, milestone=world.milestone, status="DONE"
    )
    make_task(world.matter, actor=world.alice, milestone=world.milestone)
    deliver_since(0)
    world.milestone.refresh_from_db()
    assert world.milestone.progress == 50

    mark = outbox_mark()
    services.task_update(actor=world.alice, task_id=done.pk, milestone=other)
    deliver_since(mark)

    world.milestone.refresh_from_db()
    other.refresh_from_db()
    assert (world.milestone.progress, other.progress) == (0, 100)


def test_deleting_the_last_open_task_completes_the_milestone(world: World) -> None:
    make_task(world.matter, actor=world.alice, milestone=world.milestone, status="DONE")
    doomed = make_task(world.matter, actor=world.alice, milestone=world.milestone)
    deliver_since(0)
    mark = outbox_mark()

    services.task_delete(actor=world.alice, task_id=doomed.pk)
    deliver_since(mark)

    world.milestone.refresh_from_db()
    assert world.milestone.progress == 100
    assert len(events_since(mark, names.MILESTONE_COMPLETED)) == 1


def test_only_matter_activity_hears_milestone_events() -> None:
    """No reaction that changes milestones hears their events (no loops); the
    matter's open calendars hear of a milestone completed."""
    assert [s.name for s in bus.handlers_for(names.MILESTONE_PROGRESS_CHANGED)] == [
        "matter_activity:milestone.*"
    ]
    assert [s.name for s in bus.handlers_for(names.MILESTONE_COMPLETED)] == [
        "matter_activity:milestone.*",
        "matter_activity_live:milestone.completed",
    ]
