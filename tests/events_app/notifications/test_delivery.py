"""After a reaction commits: pushes to open pages, and email once.

Events are made by the real services and delivered the way the worker
delivers them (`bus.run`, with its ledger), in the test process.
"""

from __future__ import annotations

import pytest

from events_app.models import Notification, NotificationPreference
from events_app.tasks import send_notification_email
from tasks_app import services
from tests.events_app.bus_helpers import (
    deliver_since,
    notified,
    outbox_mark,
)
from tests.fixtures.factories import World, make_task

pytestmark = pytest.mark.django_db


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
