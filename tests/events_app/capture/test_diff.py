"""The pure diff: old image vs new image -> event names and changes."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from events_app import names
from events_app.capture import diff

ALICE, BOB = 3, 7
FEB_21 = dt.datetime(2023, 2, 21, 9, 12, tzinfo=dt.UTC)
MAR_29 = dt.datetime(2023, 3, 29, 17, 31, 9, tzinfo=dt.UTC)
STATUSES = ["TODO", "IN_PROGRESS", "IN_REVIEW", "DONE"]


def task_image(**overrides):
    image = {
        "id": 1234,
        "matter": 3,
        "milestone": None,
        "title": "My task",
        "description": "",
        "status": "IN_PROGRESS",
        "priority": "NORMAL",
        "assignee": None,
        "due_date": None,
        "rank": "i",
        "created_by": ALICE,
        "last_modified_by": ALICE,
        "created_at": FEB_21,
        "updated_at": FEB_21,
    }
    image.update(overrides)
    return image


def test_seed_example_done_by_bob_is_one_task_completed_by_bob_on_his_date():
    old = task_image()  # IN_PROGRESS, last touched by Alice on 2023-02-21
    new = task_image(status="DONE", last_modified_by=BOB, updated_at=MAR_29)

    events = diff.task_events(old, new)

    assert len(events) == 1
    event = events[0]
    assert event.name == "task.completed"
    assert event.actor_id == BOB
    assert event.occurred_at.date() == dt.date(2023, 3, 29)
    assert event.changes == {"status": ["IN_PROGRESS", "DONE"]}


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        ("TODO", "IN_PROGRESS", names.TASK_STARTED),
        ("IN_PROGRESS", "DONE", names.TASK_COMPLETED),
        ("TODO", "DONE", names.TASK_COMPLETED),
        ("IN_REVIEW", "DONE", names.TASK_COMPLETED),
        ("DONE", "TODO", names.TASK_REOPENED),
        ("DONE", "IN_PROGRESS", names.TASK_REOPENED),
        ("DONE", "IN_REVIEW", names.TASK_REOPENED),
        ("IN_PROGRESS", "IN_REVIEW", names.TASK_STATUS_CHANGED),
        ("IN_REVIEW", "IN_PROGRESS", names.TASK_STATUS_CHANGED),
        ("IN_PROGRESS", "TODO", names.TASK_STATUS_CHANGED),
        ("TODO", "IN_REVIEW", names.TASK_STATUS_CHANGED),
        ("IN_REVIEW", "TODO", names.TASK_STATUS_CHANGED),
    ],
)
def test_each_status_move_has_one_name(before, after, expected):
    events = diff.task_events(task_image(status=before), task_image(status=after))
    assert [e.name for e in events] == [expected]


def test_every_pair_of_distinct_statuses_gives_exactly_one_status_event():
    status_names = {
        names.TASK_STARTED,
        names.TASK_COMPLETED,
        names.TASK_REOPENED,
        names.TASK_STATUS_CHANGED,
    }
    for before, after in itertools.permutations(STATUSES, 2):
        events = diff.task_events(task_image(status=before), task_image(status=after))
        assert len(events) == 1 and events[0].name in status_names, (before, after)


def test_assigning_from_nobody_and_reassigning_are_task_assigned_with_previous():
    assigned = diff.task_events(task_image(), task_image(assignee=BOB))
    reassigned = diff.task_events(task_image(assignee=ALICE), task_image(assignee=BOB))
    assert [e.name for e in assigned] == [names.TASK_ASSIGNED]
    assert reassigned[0].name == names.TASK_ASSIGNED
    assert reassigned[0].changes["assignee"] == [ALICE, BOB]


def test_clearing_the_assignee_is_task_unassigned():
    events = diff.task_events(task_image(assignee=BOB), task_image(assignee=None))
    assert [e.name for e in events] == [names.TASK_UNASSIGNED]
    assert events[0].changes == {"assignee": [BOB, None]}


def test_other_fields_are_one_task_updated_with_every_changed_field():
    events = diff.task_events(
        task_image(),
        task_image(title="Renamed", priority="HIGH", due_date=dt.date(2023, 4, 1)),
    )
    assert [e.name for e in events] == [names.TASK_UPDATED]
    assert events[0].changes == {
        "due_date": [None, dt.date(2023, 4, 1)],
        "priority": ["NORMAL", "HIGH"],
        "title": ["My task", "Renamed"],
    }


def test_rank_only_change_is_task_moved():
    events = diff.task_events(task_image(rank="i"), task_image(rank="j"))
    assert [e.name for e in events] == [names.TASK_MOVED]


def test_status_change_with_new_rank_is_not_also_a_move():
    events = diff.task_events(
        task_image(status="TODO", rank="i"),
        task_image(status="IN_PROGRESS", rank="a"),
    )
    assert [e.name for e in events] == [names.TASK_STARTED]
    assert events[0].changes["rank"] == ["i", "a"]


def test_milestone_change_is_task_milestone_changed():
    events = diff.task_events(task_image(), task_image(milestone=5))
    assert [e.name for e in events] == [names.TASK_MILESTONE_CHANGED]


def test_one_save_gives_one_event_per_meaning_each_with_full_changes():
    events = diff.task_events(
        task_image(status="IN_PROGRESS", assignee=ALICE),
        task_image(status="DONE", assignee=BOB, title="Done it", last_modified_by=BOB),
    )
    assert [e.name for e in events] == [
        names.TASK_COMPLETED,
        names.TASK_ASSIGNED,
        names.TASK_UPDATED,
    ]
    full = {
        "assignee": [ALICE, BOB],
        "status": ["IN_PROGRESS", "DONE"],
        "title": ["My task", "Done it"],
    }
    assert all(e.changes == full for e in events)
    assert all(e.actor_id == BOB for e in events)


def test_control_fields_alone_are_not_events():
    events = diff.task_events(
        task_image(),
        task_image(last_modified_by=BOB, updated_at=MAR_29, created_by=BOB),
    )
    assert events == []


def test_a_new_search_vector_alone_is_not_an_event_nor_described_anywhere():
    """The vector is derived from the text (a database trigger writes it)."""
    old = task_image(search_vector="'task':2A")
    assert diff.task_events(old, task_image(search_vector="'other':1A")) == []
    [updated] = diff.task_events(
        old, task_image(title="Other", search_vector="'other':1A")
    )
    assert updated.changes == {"title": ["My task", "Other"]}
    [created] = diff.task_events(None, old)
    [deleted] = diff.task_events(old, None)
    assert "search_vector" not in created.changes
    assert "search_vector" not in deleted.changes


def test_a_save_that_changes_nothing_emits_nothing():
    assert diff.task_events(task_image(), task_image()) == []


def test_create_describes_initial_values_but_not_placement():
    events = diff.task_events(None, task_image(assignee=BOB))
    assert [e.name for e in events] == [names.TASK_CREATED]
    changes = events[0].changes
    assert changes["title"] == [None, "My task"]
    assert changes["assignee"] == [None, BOB]
    assert "rank" not in changes and "matter" not in changes
    assert "description" not in changes  # empty values are not news


def test_delete_is_task_deleted_with_final_values():
    events = diff.task_events(task_image(assignee=BOB), None)
    assert [e.name for e in events] == [names.TASK_DELETED]
    assert events[0].changes["title"] == ["My task", None]


def test_no_images_no_events():
    assert diff.task_events(None, None) == []
    assert diff.comment_events(None, None) == []
    assert diff.milestone_events(None, None) == []


def comment_image(**overrides):
    image = {
        "id": 9,
        "task": 1234,
        "author": ALICE,
        "body": "Please review",
        "is_deleted": False,
        "created_at": FEB_21,
        "edited_at": None,
        "last_modified_by": ALICE,
    }
    image.update(overrides)
    return image


def test_comment_lifecycle_names():
    assert [e.name for e in diff.comment_events(None, comment_image())] == [
        names.COMMENT_ADDED
    ]
    edited = diff.comment_events(comment_image(), comment_image(body="Reviewed"))
    assert [e.name for e in edited] == [names.COMMENT_EDITED]
    assert edited[0].changes == {"body": ["Please review", "Reviewed"]}
    soft = diff.comment_events(comment_image(), comment_image(is_deleted=True))
    assert [e.name for e in soft] == [names.COMMENT_DELETED]
    hard = diff.comment_events(comment_image(), None)
    assert [e.name for e in hard] == [names.COMMENT_DELETED]


def test_hard_delete_of_a_soft_deleted_comment_is_not_a_second_deletion():
    assert diff.comment_events(comment_image(is_deleted=True), None) == []


def milestone_image(**overrides):
    image = {
        "id": 5,
        "matter": 3,
        "name": "Disclosure",
        "due_date": None,
        "progress": 0,
        "created_by": ALICE,
        "last_modified_by": ALICE,
        "created_at": FEB_21,
        "updated_at": FEB_21,
    }
    image.update(overrides)
    return image


def test_milestone_progress_and_completion():
    partial = diff.milestone_events(milestone_image(), milestone_image(progress=50))
    assert [e.name for e in partial] == [names.MILESTONE_PROGRESS_CHANGED]
    full = diff.milestone_events(
        milestone_image(progress=50), milestone_image(progress=100)
    )
    assert [e.name for e in full] == [
        names.MILESTONE_PROGRESS_CHANGED,
        names.MILESTONE_COMPLETED,
    ]


def test_milestone_staying_at_100_is_not_completed_again():
    events = diff.milestone_events(
        milestone_image(progress=100), milestone_image(progress=100, name="Renamed")
    )
    assert [e.name for e in events] == [names.MILESTONE_UPDATED]


def test_milestone_created_and_updated():
    assert [e.name for e in diff.milestone_events(None, milestone_image())] == [
        names.MILESTONE_CREATED
    ]
    events = diff.milestone_events(
        milestone_image(), milestone_image(due_date=dt.date(2023, 5, 1))
    )
    assert [e.name for e in events] == [names.MILESTONE_UPDATED]


def test_changed_fields_ignores_keys_missing_from_one_image():
    # A deferred field is absent from the loaded image: unknown, not a change.
    assert diff.changed_fields({"a": 1}, {"a": 1, "b": 2}) == {}
