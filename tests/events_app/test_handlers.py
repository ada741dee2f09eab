"""Handlers: who hears about what, watchers, milestone progress, live boards, email.

Events are made by the real services and delivered the way the worker
delivers them (`bus.run`, with its ledger), in the test process.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.http import Http404

from events_app import bus, handlers, live, names
from events_app.context import acting_as
from events_app.models import Notification, NotificationPreference
from events_app.notifications import send_notification_email
from tasks_app import services
from tasks_app.models import Milestone, Task, TaskWatch
from tests.events_app.bus_helpers import (
    deliver,
    deliver_since,
    events_since,
    outbox_mark,
)
from tests.fixtures.factories import World, make_task
from tests.fixtures.worker import celery_eager

pytestmark = pytest.mark.django_db


def notified(user: Any) -> list[Notification]:
    return list(Notification.objects.filter(recipient=user).order_by("id"))


def recipients() -> set[str]:
    return set(Notification.objects.values_list("recipient__username", flat=True))


@pytest.fixture
def eager_celery():
    """Run Celery tasks queued after commit (the email) inline."""
    with celery_eager(True):
        yield


@pytest.fixture
def pushes(monkeypatch) -> list[tuple[int, dict]]:
    """What would reach users' open pages (live.send_to_user calls)."""
    sent: list[tuple[int, dict]] = []
    monkeypatch.setattr(
        live, "send_to_user", lambda user_id, payload: sent.append((user_id, payload))
    )
    return sent


# --- assignment -------------------------------------------------------------------


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


def test_one_save_that_completes_and_reassigns_notifies_once(world: World) -> None:
    task = make_task(world.matter, actor=world.alice, status="IN_PROGRESS")
    mark = outbox_mark()

    services.task_update(
        actor=world.alice, task_id=task.pk, status="DONE", assignee=world.bob
    )
    events = deliver_since(mark)

    assert {e["name"] for e in events} == {names.TASK_COMPLETED, names.TASK_ASSIGNED}
    assert [n.event_name for n in notified(world.bob)] == [names.TASK_ASSIGNED]


def test_an_event_delivered_twice_leaves_one_notification(world: World) -> None:
    task = make_task(world.matter, actor=world.alice)
    mark = outbox_mark()
    services.task_assign(actor=world.alice, task_id=task.pk, assignee=world.bob)
    [event] = events_since(mark)

    assert "notify_assigned" in deliver([event])
    assert deliver([event]) == []  # the ledger refuses every handler again
    handlers.notify_assignment(event)  # and the effect itself is idempotent

    assert len(notified(world.bob)) == 1


def test_an_assignee_walled_off_before_delivery_hears_nothing(world: World) -> None:
    task = make_task(world.walled, "Privileged advice", actor=world.alice)
    mark = outbox_mark()
    services.task_assign(actor=world.alice, task_id=task.pk, assignee=world.bob)
    world.walled.members.remove(world.bob)

    deliver_since(mark)

    assert Notification.objects.count() == 0


# --- comments and mentions --------------------------------------------------------


@pytest.fixture
def watched_task(world: World) -> Task:
    """Created by Alice for Bob (both now watch it); Carol watches it too."""
    task = make_task(
        world.matter, "Witness bundle", actor=world.alice, assignee=world.bob
    )
    deliver_since(0)
    services.task_watch(actor=world.carol, task_id=task.pk)
    Notification.objects.all().delete()
    return task


def comment(actor: Any, task: Task, body: str) -> list[dict]:
    mark = outbox_mark()
    services.comment_create(actor=actor, task_id=task.pk, body=body)
    return deliver_since(mark)


def test_a_comment_reaches_assignee_and_watchers_but_not_its_author(
    world: World, watched_task: Task
) -> None:
    [event] = comment(world.alice, watched_task, "Draft index attached.")

    assert recipients() == {"bob", "carol"}
    [bob] = notified(world.bob)
    assert bob.verb == Notification.Verb.COMMENTED
    assert (
        bob.summary
        == "Alice Hartley commented on “Witness bundle”: Draft index attached."
    )
    assert bob.url == f"/tasks/{watched_task.pk}/#comment-{event['subject']['id']}"


def test_someone_both_watching_and_mentioned_is_notified_once_as_mentioned(
    world: World, watched_task: Task
) -> None:
    comment(world.dora, watched_task, "@carol can you check the pagination?")

    [carol] = notified(world.carol)
    assert carol.verb == Notification.Verb.MENTIONED
    assert carol.summary.startswith("Dora Admin mentioned you on “Witness bundle”")
    assert recipients() == {"alice", "bob", "carol"}


def test_mentioning_yourself_or_the_assignee_as_author_changes_nothing(
    world: World, watched_task: Task
) -> None:
    comment(world.bob, watched_task, "Noted, @bob will do it.")

    assert recipients() == {"alice", "carol"}


def test_mentions_resolve_case_insensitively_and_ignore_email_addresses(
    world: World,
) -> None:
    task = make_task(world.matter, actor=world.alice)
    comment(
        world.alice,
        task,
        "Thanks @CAROL. Copy dora@example.test, and ask @dora.",
    )

    assert recipients() == {"carol", "dora"}
    assert {n.verb for n in Notification.objects.all()} == {"mentioned"}


def test_mentions_of_people_who_cannot_see_the_matter_notify_no_one(
    world: World,
) -> None:
    task = make_task(world.walled, "Settlement", actor=world.alice, assignee=world.bob)
    deliver_since(0)
    Notification.objects.all().delete()

    comment(world.alice, task, "@walt @oscar @nosuchuser please review the offer")

    # Bob (assignee) hears of the comment; Walt (outside the wall), Oscar
    # (another firm) and an unknown name produce nothing at all, and nobody
    # is told about them.
    assert recipients() == {"bob"}
    assert not TaskWatch.objects.filter(user__in=[world.walt, world.oscar]).exists()


def test_a_comment_on_a_task_deleted_before_delivery_notifies_nobody(
    world: World, watched_task: Task
) -> None:
    mark = outbox_mark()
    services.comment_create(actor=world.alice, task_id=watched_task.pk, body="Hi")
    [added] = events_since(mark, names.COMMENT_ADDED)
    services.task_delete(actor=world.alice, task_id=watched_task.pk)

    deliver([added])

    assert Notification.objects.count() == 0


def test_mentioned_usernames_reads_mentions_as_people_write_them() -> None:
    found = handlers.mentioned_usernames(
        "cc @bob, @ann.lee; mail x@y.test; (@carol) @dora!"
    )
    assert found[:2] == ["bob", "ann.lee"]
    assert "carol" in found and "dora" in found
    assert "y.test" not in found
    assert handlers.mentioned_usernames("@a " * 100).count("a") == 1


# --- watching ---------------------------------------------------------------------


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


# --- milestone progress -----------------------------------------------------------


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
    handlers.milestone_progress(completed_task)
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
    for name in (names.MILESTONE_PROGRESS_CHANGED, names.MILESTONE_COMPLETED):
        assert [s.name for s in bus.handlers_for(name)] == ["matter_activity"]


# --- live boards ------------------------------------------------------------------


def test_board_handler_sends_a_thin_message_that_skips_the_senders_tab(
    world: World, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    sent = []
    monkeypatch.setattr(
        live,
        "send_to_matter",
        lambda matter_id, payload, exclude_channel=None: sent.append(
            (matter_id, payload, exclude_channel)
        ),
    )
    task = make_task(world.matter, actor=world.alice)
    mark = outbox_mark()
    with acting_as(world.alice, source="web", client_id="specific.a1!b2"):
        services.task_move(actor=world.alice, task_id=task.pk, status="IN_PROGRESS")

    with django_capture_on_commit_callbacks(execute=True):
        deliver_since(mark)

    assert sent == [
        (
            world.matter.pk,
            {
                "kind": "board",
                "matter_id": world.matter.pk,
                "task_id": task.pk,
                "event": names.TASK_STARTED,
            },
            "specific.a1!b2",
        )
    ]


def test_a_page_view_sends_nothing_to_boards() -> None:
    assert [s.name for s in bus.handlers_for(names.TASK_VIEWED)] == ["matter_activity"]
    assert {s.name for s in bus.handlers_for(names.TASK_MOVED)} == {
        "matter_activity",
        "live_board:task.moved",
    }


# --- pushes and email -------------------------------------------------------------


def test_a_new_notification_is_pushed_with_the_unread_count_after_commit(
    world: World, pushes, django_capture_on_commit_callbacks
) -> None:
    task = make_task(world.matter, "Disclosure list", actor=world.alice)
    mark = outbox_mark()
    services.task_assign(actor=world.alice, task_id=task.pk, assignee=world.bob)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        deliver_since(mark)
    assert pushes == []  # nothing before the handler's transaction commits
    for callback in callbacks:
        callback()

    [notification] = notified(world.bob)
    assert pushes == [
        (
            world.bob.pk,
            {
                "kind": "notification",
                "id": notification.pk,
                "unread": 1,
                "text": "Alice Hartley assigned you “Disclosure list”",
                "url": f"/notifications/{notification.pk}/open/",
            },
        )
    ]


def test_assignment_and_mention_are_emailed(
    world: World, eager_celery, mailoutbox, pushes, django_capture_on_commit_callbacks
) -> None:
    task = make_task(world.matter, "Serve the claim", actor=world.alice)
    mark = outbox_mark()
    services.task_assign(actor=world.alice, task_id=task.pk, assignee=world.bob)
    services.comment_create(actor=world.alice, task_id=task.pk, body="@carol FYI")

    with django_capture_on_commit_callbacks(execute=True):
        deliver_since(mark)

    assert sorted((m.to[0], m.subject) for m in mailoutbox) == [
        ("bob@example.test", "Alice Hartley assigned you “Serve the claim”"),
        (
            "carol@example.test",
            "Alice Hartley mentioned you on “Serve the claim”: @carol FYI",
        ),
    ]
    assert f"/tasks/{task.pk}/" in mailoutbox[0].body
    # Bob also hears of the comment (he is the assignee), in the app only.
    emailed = Notification.objects.filter(emailed_at__isnull=False)
    assert sorted(emailed.values_list("verb", flat=True)) == ["assigned", "mentioned"]
    assert notified(world.bob)[-1].verb == "commented"


def test_quiet_changes_are_not_emailed(
    world: World, eager_celery, mailoutbox, pushes, django_capture_on_commit_callbacks
) -> None:
    task = make_task(world.matter, actor=world.alice, assignee=world.carol)
    services.task_watch(actor=world.dora, task_id=task.pk)
    mark = outbox_mark()
    services.task_assign(actor=world.alice, task_id=task.pk, assignee=None)
    services.comment_create(actor=world.alice, task_id=task.pk, body="No mention.")

    with django_capture_on_commit_callbacks(execute=True):
        deliver_since(mark)

    # Carol lost the task, Dora's watched task has a comment: both in the app only.
    assert {n.verb for n in Notification.objects.all()} == {"unassigned", "commented"}
    assert mailoutbox == []


def test_email_preferences_are_honoured(
    world: World, eager_celery, mailoutbox, pushes, django_capture_on_commit_callbacks
) -> None:
    NotificationPreference.objects.create(user=world.bob, email_on_assignment=False)
    task = make_task(world.matter, "Costs budget", actor=world.alice)
    mark = outbox_mark()
    services.task_assign(actor=world.alice, task_id=task.pk, assignee=world.bob)
    services.comment_create(actor=world.alice, task_id=task.pk, body="@bob see this")

    with django_capture_on_commit_callbacks(execute=True):
        deliver_since(mark)

    assert [m.subject for m in mailoutbox] == [
        "Alice Hartley mentioned you on “Costs budget”: @bob see this"
    ]
    assert len(notified(world.bob)) == 2


def test_an_email_task_run_twice_sends_once(
    world: World, mailoutbox, pushes, django_capture_on_commit_callbacks
) -> None:
    task = make_task(world.matter, actor=world.alice)
    mark = outbox_mark()
    services.task_assign(actor=world.alice, task_id=task.pk, assignee=world.bob)
    deliver_since(mark)
    [notification] = notified(world.bob)

    assert send_notification_email(notification.pk) is True
    assert send_notification_email(notification.pk) is False
    assert len(mailoutbox) == 1
