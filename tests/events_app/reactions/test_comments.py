"""A new comment: the assignee, watchers and people @mentioned, once each.

Events are made by the real services and delivered the way the worker
delivers them (`bus.run`, with its ledger), in the test process.
"""

from __future__ import annotations

from typing import Any

import pytest

from events_app import names
from events_app.models import Notification
from events_app.reactions.comments import mentioned_usernames
from tasks_app import services
from tasks_app.models import Task, TaskWatch
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
    found = mentioned_usernames("cc @bob, @ann.lee; mail x@y.test; (@carol) @dora!")
    assert found[:2] == ["bob", "ann.lee"]
    assert "carol" in found and "dora" in found
    assert "y.test" not in found
    assert mentioned_usernames("@a " * 100).count("a") == 1
