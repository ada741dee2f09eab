"""Every write path of a tracked model puts the right events in the outbox."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from events_app import names
from events_app.context import acting_as
from events_app.models import OutboxEvent
from tasks_app import services
from tasks_app.models import Comment, Matter, Milestone, Task
from tests.conftest import service_unavailable
from tests.fixtures.factories import make_task


@pytest.fixture
def outbox_mark(world):
    """Only events written after this point are looked at."""
    last = OutboxEvent.objects.order_by("-seq").values_list("seq", flat=True).first()
    return last or 0


def events_since(mark: int) -> list[dict]:
    return [
        row.payload for row in OutboxEvent.objects.filter(seq__gt=mark).order_by("seq")
    ]


def event_names(mark: int) -> list[str]:
    return [e["name"] for e in events_since(mark)]


def test_service_create_is_task_created_with_actor_matter_and_firm(world, outbox_mark):
    with acting_as(world.alice, source="web"):
        task = services.task_create(
            actor=world.alice, matter_id=world.matter.pk, title="Draft witness list"
        )
    [event] = events_since(outbox_mark)
    assert event["name"] == names.TASK_CREATED
    assert event["actor"] == {"id": world.alice.pk, "name": "Alice Hartley"}
    assert event["subject"] == {"type": "task", "id": task.pk, "label": task.title}
    assert event["matter"] == {"id": world.matter.pk, "label": str(world.matter)}
    assert event["firm"] == f"f_{world.firm.pk}"
    assert event["context"]["source"] == "web"
    assert event["changes"]["title"] == [None, "Draft witness list"]


def test_service_completion_by_bob_is_task_completed_by_bob(world, outbox_mark):
    task = make_task(world.matter, actor=world.alice, status="IN_PROGRESS")
    mark = OutboxEvent.objects.order_by("-seq").first().seq
    with acting_as(world.bob, source="web"):
        services.task_update(actor=world.bob, task_id=task.pk, status="DONE")
    [event] = events_since(mark)
    assert event["name"] == names.TASK_COMPLETED
    assert event["actor"]["id"] == world.bob.pk
    assert event["changes"]["status"] == ["IN_PROGRESS", "DONE"]


def test_without_a_context_the_row_last_modified_by_is_the_actor(world, outbox_mark):
    task = make_task(world.matter, actor=world.alice)
    mark = OutboxEvent.objects.order_by("-seq").first().seq
    services.task_update(actor=world.bob, task_id=task.pk, title="New title")
    [event] = events_since(mark)
    assert event["actor"] == {"id": world.bob.pk, "name": "Bob Stone"}
    assert event["context"]["source"] == "shell"


def test_assignment_carries_names_of_previous_and_new_assignee(world, outbox_mark):
    task = make_task(world.matter, actor=world.alice, assignee=world.carol)
    mark = OutboxEvent.objects.order_by("-seq").first().seq
    services.task_assign(actor=world.alice, task_id=task.pk, assignee=world.bob)
    [event] = events_since(mark)
    assert event["name"] == names.TASK_ASSIGNED
    assert event["changes"]["assignee"] == [
        {"id": world.carol.pk, "name": "Carol King"},
        {"id": world.bob.pk, "name": "Bob Stone"},
    ]


def test_a_service_call_that_changes_nothing_emits_nothing(world, outbox_mark):
    task = make_task(world.matter, actor=world.alice, title="Same")
    mark = OutboxEvent.objects.order_by("-seq").first().seq
    services.task_update(actor=world.alice, task_id=task.pk, title="Same")
    assert events_since(mark) == []


def test_shell_style_save_is_captured(world, outbox_mark):
    task = make_task(world.matter, actor=world.alice)
    mark = OutboxEvent.objects.order_by("-seq").first().seq
    loaded = Task.objects.get(pk=task.pk)
    loaded.status = Task.Status.IN_PROGRESS
    loaded.save()
    assert event_names(mark) == [names.TASK_STARTED]


def test_save_of_an_instance_built_with_a_pk_is_diffed_against_the_row(world):
    task = make_task(world.matter, actor=world.alice, title="Before")
    mark = OutboxEvent.objects.order_by("-seq").first().seq
    row = Task.objects.filter(pk=task.pk).values().get()
    row["title"] = "After"
    Task(**row).save()
    [event] = events_since(mark)
    assert event["name"] == names.TASK_UPDATED
    assert event["changes"] == {"title": ["Before", "After"]}


def test_queryset_update_emits_per_row_like_one_by_one_saves(world):
    tasks = [make_task(world.matter, actor=world.alice) for _ in range(3)]
    mark = OutboxEvent.objects.order_by("-seq").first().seq
    Task.objects.filter(pk__in=[t.pk for t in tasks]).update(status="IN_PROGRESS")
    events = events_since(mark)
    assert sorted(e["subject"]["id"] for e in events) == sorted(t.pk for t in tasks)
    assert {e["name"] for e in events} == {names.TASK_STARTED}


def test_bulk_update_emits_per_changed_row_only(world):
    tasks = [make_task(world.matter, actor=world.alice) for _ in range(3)]
    mark = OutboxEvent.objects.order_by("-seq").first().seq
    tasks[0].title = "Changed"
    tasks[1].priority = "URGENT"
    Task.objects.bulk_update(tasks, ["title", "priority"])
    events = events_since(mark)
    assert [(e["name"], e["subject"]["id"]) for e in events] == [
        (names.TASK_UPDATED, tasks[0].pk),
        (names.TASK_UPDATED, tasks[1].pk),
    ]
    assert events[1]["changes"] == {"priority": ["NORMAL", "URGENT"]}


def test_bulk_create_emits_created_per_row(world, outbox_mark):
    created = Task.objects.bulk_create(
        [
            Task(matter=world.matter, title=f"Bulk {i}", rank=f"z{i + 1}")
            for i in range(4)
        ]
    )
    events = events_since(outbox_mark)
    assert [e["name"] for e in events] == [names.TASK_CREATED] * 4
    assert [e["subject"]["id"] for e in events] == [t.pk for t in created]


def test_bulk_create_that_could_skip_rows_is_refused(world):
    with pytest.raises(NotImplementedError, match="skip history"):
        Task.objects.bulk_create(
            [Task(matter=world.matter, title="x", rank="a")], ignore_conflicts=True
        )


def test_queryset_delete_emits_task_deleted_per_row(world):
    tasks = [make_task(world.matter, actor=world.alice) for _ in range(2)]
    mark = OutboxEvent.objects.order_by("-seq").first().seq
    Task.objects.filter(pk__in=[t.pk for t in tasks]).delete()
    events = events_since(mark)
    assert [e["name"] for e in events] == [names.TASK_DELETED] * 2
    assert {e["subject"]["label"] for e in events} == {t.title for t in tasks}


def test_deleting_a_milestone_records_that_its_tasks_lost_it(world):
    task = make_task(world.matter, actor=world.alice, milestone=world.milestone)
    milestone_id = world.milestone.pk
    mark = OutboxEvent.objects.order_by("-seq").first().seq
    world.milestone.delete()
    by_name = {e["name"]: e for e in events_since(mark)}
    assert by_name[names.TASK_MILESTONE_CHANGED]["subject"]["id"] == task.pk
    assert by_name[names.TASK_MILESTONE_CHANGED]["changes"]["milestone"] == [
        {"id": milestone_id, "label": "Disclosure"},
        None,
    ]
    assert names.MILESTONE_DELETED in by_name


def test_comment_events_name_their_task_as_parent(world):
    task = make_task(world.matter, actor=world.alice, title="My task")
    mark = OutboxEvent.objects.order_by("-seq").first().seq
    comment = services.comment_create(
        actor=world.bob, task_id=task.pk, body="Looks good"
    )
    services.comment_edit(actor=world.bob, comment_id=comment.pk, body="Looks great")
    services.comment_delete(actor=world.bob, comment_id=comment.pk)
    events = events_since(mark)
    assert [e["name"] for e in events] == [
        names.COMMENT_ADDED,
        names.COMMENT_EDITED,
        names.COMMENT_DELETED,
    ]
    assert all(
        e["parent"] == {"type": "task", "id": task.pk, "label": "My task"}
        for e in events
    )
    assert all(e["matter"]["id"] == world.matter.pk for e in events)
    assert events[1]["changes"]["body"] == ["Looks good", "Looks great"]


def test_milestone_service_events(world, outbox_mark):
    milestone = services.milestone_create(
        actor=world.alice, matter_id=world.matter.pk, name="Trial"
    )
    services.milestone_update(
        actor=world.bob, milestone_id=milestone.pk, name="Trial prep"
    )
    events = events_since(outbox_mark)
    assert [e["name"] for e in events] == [
        names.MILESTONE_CREATED,
        names.MILESTONE_UPDATED,
    ]
    assert events[1]["actor"]["id"] == world.bob.pk


def test_rolled_back_transaction_leaves_no_event(world, outbox_mark):
    with pytest.raises(RuntimeError), transaction.atomic():
        make_task(world.matter, actor=world.alice)
        raise RuntimeError("abort")
    assert events_since(outbox_mark) == []


def test_rolled_back_savepoint_leaves_no_event_but_keeps_the_outer_one(
    world, outbox_mark
):
    with transaction.atomic():
        kept = make_task(world.matter, actor=world.alice, title="Kept")
        try:
            with transaction.atomic():
                make_task(world.matter, actor=world.alice, title="Dropped")
                raise RuntimeError("inner abort")
        except RuntimeError:
            pass
    events = events_since(outbox_mark)
    assert [e["subject"]["label"] for e in events] == ["Kept"]
    assert events[0]["subject"]["id"] == kept.pk


def test_login_events_never_record_the_password(client, world):
    mark = OutboxEvent.objects.order_by("-seq").values_list("seq", flat=True).first()
    client.post("/login/", {"username": "alice", "password": "wrong-secret-123"})
    client.login(username="alice", password="correct-horse-battery")
    client.logout()
    events = events_since(mark)
    assert [e["name"] for e in events] == [
        names.USER_LOGIN_FAILED,
        names.USER_LOGGED_IN,
        names.USER_LOGGED_OUT,
    ]
    assert "wrong-secret-123" not in str(events)
    assert events[0]["changes"] == {"username": [None, "alice"]}
    assert events[0]["firm"] == f"f_{world.firm.pk}"
    assert events[1]["actor"]["id"] == world.alice.pk


def test_comment_hard_delete_of_live_comment_is_recorded(world):
    task = make_task(world.matter, actor=world.alice)
    comment = services.comment_create(actor=world.bob, task_id=task.pk, body="Temp")
    mark = OutboxEvent.objects.order_by("-seq").first().seq
    Comment.objects.filter(pk=comment.pk).delete()
    assert event_names(mark) == [names.COMMENT_DELETED]


def test_system_progress_recompute_is_by_system(world):
    task = make_task(world.matter, actor=world.alice, milestone=world.milestone)
    services.task_update(actor=world.alice, task_id=task.pk, status="DONE")
    mark = OutboxEvent.objects.order_by("-seq").first().seq
    with acting_as(None, source="system"):
        services.milestone_recompute_progress(milestone_id=world.milestone.pk)
    events = events_since(mark)
    assert [e["name"] for e in events] == [
        names.MILESTONE_PROGRESS_CHANGED,
        names.MILESTONE_COMPLETED,
    ]
    assert events[0]["actor"] == {"id": None, "name": "system"}
    assert Milestone.objects.get(pk=world.milestone.pk).progress == 100


def test_task_viewed_is_recorded_once_per_user_and_task_per_window(world, settings):
    from django.core.cache import cache

    from events_app.capture.records import record_task_viewed

    cache.clear()
    settings.TASK_VIEWED_WINDOW_SECONDS = 600
    task = make_task(world.matter, actor=world.alice)
    mark = OutboxEvent.objects.order_by("-seq").first().seq
    record_task_viewed(user=world.bob, task=task)
    record_task_viewed(user=world.bob, task=task)  # same window: not again
    record_task_viewed(user=world.carol, task=task)  # another viewer counts
    events = events_since(mark)
    assert [(e["name"], e["actor"]["id"]) for e in events] == [
        (names.TASK_VIEWED, world.bob.pk),
        (names.TASK_VIEWED, world.carol.pk),
    ]
    cache.clear()  # the window has passed
    record_task_viewed(user=world.bob, task=task)
    assert len(events_since(mark)) == 3


# --- the search vector (PostgreSQL keeps it; see tasks_app.search) -----------------


@pytest.fixture
def stored_vectors(world):
    if connection.vendor != "postgresql":
        service_unavailable("search vectors are kept by PostgreSQL's triggers")


def test_no_event_carries_the_search_vector_whatever_the_write_path(
    world, stored_vectors
):
    task = make_task(world.matter, "Limitation check", actor=world.alice)
    mark = OutboxEvent.objects.order_by("-seq").first().seq

    services.task_update(actor=world.alice, task_id=task.pk, title="Garnishee order")
    # Both images read from the database, each with its own vector.
    Task.objects.filter(pk=task.pk).update(title="Garnishee order nisi")
    loaded = Task.objects.get(pk=task.pk)
    loaded.title = "Garnishee order absolute"
    loaded.save()
    services.task_delete(actor=world.alice, task_id=task.pk)

    events = events_since(mark)
    assert [e["name"] for e in events] == [
        names.TASK_UPDATED,
        names.TASK_UPDATED,
        names.TASK_UPDATED,
        names.TASK_DELETED,
    ]
    assert [set(e["changes"]) for e in events[:3]] == [{"title"}] * 3
    assert events[2]["changes"]["title"] == [
        "Garnishee order nisi",
        "Garnishee order absolute",
    ]
    assert "search_vector" not in events[3]["changes"]
    assert events[3]["changes"]["title"] == ["Garnishee order absolute", None]


def test_comment_and_matter_events_do_not_carry_their_search_vectors(
    world, stored_vectors
):
    task = make_task(world.matter, "Chase the other side", actor=world.alice)
    comment = services.comment_create(actor=world.bob, task_id=task.pk, body="Sent.")
    mark = OutboxEvent.objects.order_by("-seq").first().seq

    services.comment_edit(actor=world.bob, comment_id=comment.pk, body="Sent twice.")
    Matter.objects.filter(pk=world.matter.pk).update(name="Smith v Jones")
    services.comment_delete(actor=world.bob, comment_id=comment.pk)

    events = events_since(mark)
    assert [e["name"] for e in events] == [
        names.COMMENT_EDITED,
        names.MATTER_UPDATED,
        names.COMMENT_DELETED,
    ]
    assert [set(e["changes"]) for e in events] == [{"body"}, {"name"}, {"is_deleted"}]
