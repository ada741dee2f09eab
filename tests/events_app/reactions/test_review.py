"""Review and completion notices: who hears what, and who does not.

The reviewer hears that their review is asked for; the assignee hears the
answer; a completed task's creator and watchers hear of it, never the one
who completed it. Events are made by the real services and delivered the
way the worker delivers them (`bus.run`, with its ledger), in the test
process; emails go through the real Celery task, eagerly.
"""

from __future__ import annotations

import pytest

from events_app.models import Notification, NotificationPreference
from tasks_app import services
from tasks_app.models import MatterMember, Task, TaskWatch
from tests.events_app.bus_helpers import deliver_since, notified, outbox_mark
from tests.fixtures.factories import World, make_task

pytestmark = pytest.mark.django_db

Verb = Notification.Verb


@pytest.fixture
def draft(world: World) -> Task:
    """Carol created it, Bob does it, Alice reviews it; Dora watches it."""
    MatterMember.objects.create(
        matter=world.matter, user=world.alice, role="RESPONSIBLE_PARTNER"
    )
    MatterMember.objects.create(matter=world.matter, user=world.bob)
    task = make_task(
        world.matter,
        "Draft the defence",
        actor=world.carol,
        assignee=world.bob,
        reviewer=world.alice,
    )
    services.task_watch(actor=world.dora, task_id=task.pk)
    return task


def in_review(world: World, task: Task) -> None:
    services.task_update(actor=world.bob, task_id=task.pk, status="IN_REVIEW")


def test_the_reviewer_hears_their_review_is_asked_for(world: World, draft) -> None:
    mark = outbox_mark()
    in_review(world, draft)
    deliver_since(mark)

    [asked] = notified(world.alice)
    assert asked.verb == Verb.REVIEW_REQUESTED
    assert asked.summary == "Bob Stone asks for your review of “Draft the defence”"
    assert asked.url == f"/tasks/{draft.pk}/"
    assert notified(world.bob) == []


def test_approval_tells_the_assignee_and_the_creator_and_watchers_it_is_done(
    world: World, draft
) -> None:
    in_review(world, draft)
    mark = outbox_mark()

    services.task_approve(actor=world.alice, task_id=draft.pk)
    deliver_since(mark)

    # Bob hears of the approval, once: not a second time as "completed".
    assert [(n.verb, n.summary) for n in notified(world.bob)] == [
        (Verb.APPROVED, "Alice Hartley approved “Draft the defence”")
    ]
    for person in (world.carol, world.dora):
        [done] = notified(person)
        assert done.verb == Verb.COMPLETED
        assert done.summary == "Alice Hartley completed “Draft the defence”"
    # The one who completed it hears nothing of their own act.
    assert notified(world.alice) == []


def test_a_return_tells_the_assignee_what_to_change(world: World, draft) -> None:
    in_review(world, draft)
    mark = outbox_mark()

    services.task_request_changes(
        actor=world.alice,
        task_id=draft.pk,
        comment="Plead limitation in the alternative.",
    )
    deliver_since(mark)

    returned = [n for n in notified(world.bob) if n.verb == Verb.CHANGES_REQUESTED]
    assert [n.summary for n in returned] == [
        "Alice Hartley returned “Draft the defence”: "
        "Plead limitation in the alternative."
    ]
    assert not Notification.objects.filter(verb=Verb.COMPLETED).exists()


def test_completing_ones_own_task_tells_the_creator_and_watchers_only(
    world: World,
) -> None:
    task = make_task(world.matter, "File the N1", actor=world.carol, assignee=world.bob)
    services.task_watch(actor=world.bob, task_id=task.pk)
    mark = outbox_mark()

    services.task_update(actor=world.bob, task_id=task.pk, status="DONE")
    deliver_since(mark)

    assert [n.summary for n in notified(world.carol)] == [
        "Bob Stone completed “File the N1”"
    ]
    assert notified(world.bob) == []


def test_completion_on_a_walled_matter_reaches_nobody_outside_it(
    world: World,
) -> None:
    task = make_task(world.walled, "Data room index", actor=world.alice)
    # Walt watched it once, before the wall; he is outside it now.
    TaskWatch.objects.create(task=task, user=world.walt)
    mark = outbox_mark()

    services.task_update(actor=world.bob, task_id=task.pk, status="DONE")
    deliver_since(mark)

    assert notified(world.walt) == []
    assert [n.verb for n in notified(world.alice)] == [Verb.COMPLETED]


def test_review_and_completion_emails_follow_preferences(
    world: World,
    draft,
    eager_celery,
    mailoutbox,
    pushes,
    django_capture_on_commit_callbacks,
) -> None:
    """Review mail is on by default; completion mail is opt-in (Dora opted in,
    Carol did not)."""
    NotificationPreference.objects.create(user=world.dora, email_on_completion=True)
    mark = outbox_mark()
    in_review(world, draft)
    services.task_approve(actor=world.alice, task_id=draft.pk)

    with django_capture_on_commit_callbacks(execute=True):
        deliver_since(mark)

    assert sorted((m.to[0], m.subject) for m in mailoutbox) == [
        ("alice@example.test", "Bob Stone asks for your review of “Draft the defence”"),
        ("bob@example.test", "Alice Hartley approved “Draft the defence”"),
        ("dora@example.test", "Alice Hartley completed “Draft the defence”"),
    ]


def test_turning_review_mail_off_keeps_the_notice_in_the_app(
    world: World,
    draft,
    eager_celery,
    mailoutbox,
    pushes,
    django_capture_on_commit_callbacks,
) -> None:
    NotificationPreference.objects.create(user=world.alice, email_on_review=False)
    mark = outbox_mark()
    in_review(world, draft)

    with django_capture_on_commit_callbacks(execute=True):
        deliver_since(mark)

    assert mailoutbox == []
    assert [n.verb for n in notified(world.alice)] == [Verb.REVIEW_REQUESTED]
