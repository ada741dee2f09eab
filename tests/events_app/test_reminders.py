"""Due-date reminders: what is due, in each assignee's own timezone, told once.

`send_due_reminders(now=...)` is the scheduled job's body; the instants below
are chosen around local midnights and the clock changes, where a reminder
computed on UTC dates would be a day early or late. The last tests run the
real thing: Celery beat inside a real worker, on a one-second schedule.
"""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.test import Client

from events_app import names, store
from events_app.history.sentences import sentence_text
from events_app.models import Notification, ReminderSent
from events_app.reminders import send_due_reminders
from tasks_app import services
from tasks_app.models import MatterMember, Task
from tests.events_app import event_helpers
from tests.events_app.bus_helpers import deliver_since, events_since, outbox_mark
from tests.fixtures.factories import World, make_task

UTC = dt.UTC
pipeline = event_helpers.pipeline
D = dt.date


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def due_task(world: World, title: str, due: dt.date, assignee=None) -> Task:
    return make_task(
        world.matter,
        title,
        actor=world.alice,
        assignee=assignee or world.bob,
        due_date=due,
    )


def sent_at(now: dt.datetime) -> list[tuple[str, str, str]]:
    """(event name, task title, note) of the reminders one run records."""
    mark = outbox_mark()
    send_due_reminders(now=now)
    return [
        (e["name"], e["subject"]["label"], e["changes"]["note"][1])
        for e in events_since(mark)
    ]


def set_zone(user, zone: str) -> None:
    user.timezone = zone
    user.save(update_fields=["timezone"])


# --- whose tomorrow ------------------------------------------------------------------


@pytest.mark.django_db
def test_tomorrow_is_each_assignees_own(world: World) -> None:
    """16:00 UTC on 10 June: 01:00 on the 11th in Tokyo, 09:00 on the 10th in
    Los Angeles."""
    set_zone(world.bob, "Asia/Tokyo")
    set_zone(world.carol, "America/Los_Angeles")
    due_task(world, "Tokyo, due 12th", D(2026, 6, 12), world.bob)
    due_task(world, "Tokyo, due 11th", D(2026, 6, 11), world.bob)
    due_task(world, "LA, due 12th", D(2026, 6, 12), world.carol)
    due_task(world, "LA, due 11th", D(2026, 6, 11), world.carol)

    sent = sent_at(utc(2026, 6, 10, 16))

    assert sorted(sent) == [
        (names.TASK_DUE_SOON, "LA, due 11th", "due tomorrow"),
        (names.TASK_DUE_SOON, "Tokyo, due 12th", "due tomorrow"),
    ]


@pytest.mark.django_db
def test_the_autumn_clock_change_in_london(world: World) -> None:
    """At 23:15 UTC on 24 October 2026 London is at 00:15 BST on the 25th
    (clocks go back at 01:00 UTC that night): tomorrow is the 26th."""
    set_zone(world.bob, "Europe/London")
    due_task(world, "Due 25th", D(2026, 10, 25))
    due_task(world, "Due 26th", D(2026, 10, 26))

    assert sent_at(utc(2026, 10, 24, 22, 45)) == [
        (names.TASK_DUE_SOON, "Due 25th", "due tomorrow")  # 23:45 BST on the 24th
    ]
    assert sent_at(utc(2026, 10, 24, 23, 15)) == [
        (names.TASK_DUE_SOON, "Due 26th", "due tomorrow")
    ]


@pytest.mark.django_db
def test_the_spring_clock_change_in_london(world: World) -> None:
    """BST starts at 01:00 UTC on 29 March 2026: 23:30 UTC on the 28th is still
    the 28th in London, 23:30 UTC on the 29th is already the 30th."""
    set_zone(world.bob, "Europe/London")
    due_task(world, "Due 29th", D(2026, 3, 29))
    due_task(world, "Due 31st", D(2026, 3, 31))

    assert sent_at(utc(2026, 3, 28, 23, 30)) == [
        (names.TASK_DUE_SOON, "Due 29th", "due tomorrow")
    ]
    assert sent_at(utc(2026, 3, 29, 22, 30)) == []  # 23:30 BST on the 29th
    assert sorted(sent_at(utc(2026, 3, 29, 23, 30))) == [  # 00:30 BST, the 30th
        (names.TASK_DUE_SOON, "Due 31st", "due tomorrow"),
        (names.TASK_OVERDUE, "Due 29th", "1 day overdue"),
    ]


# --- once, and again when the date moves -------------------------------------------


@pytest.mark.django_db
def test_a_rerun_sends_nothing_twice_and_a_new_due_date_reminds_again(
    world: World,
) -> None:
    set_zone(world.bob, "Europe/London")
    task = due_task(world, "Skeleton argument", D(2026, 6, 12))
    now = utc(2026, 6, 11, 8)

    first = send_due_reminders(now=now)
    again = send_due_reminders(now=now + dt.timedelta(minutes=15))
    services.task_update(actor=world.alice, task_id=task.pk, due_date=D(2026, 6, 13))
    too_early = send_due_reminders(now=now + dt.timedelta(minutes=30))
    moved = send_due_reminders(now=utc(2026, 6, 12, 8))

    assert (first.sent, again.sent, too_early.sent, moved.sent) == (1, 0, 0, 1)
    assert list(
        ReminderSent.objects.filter(task=task).values_list("due_date", "kind")
    ) == [(D(2026, 6, 12), "due_soon"), (D(2026, 6, 13), "due_soon")]


@pytest.mark.django_db
def test_overdue_tells_the_assignee_once_and_escalates_to_the_partner(
    world: World,
) -> None:
    MatterMember.objects.create(
        matter=world.matter, user=world.alice, role="RESPONSIBLE_PARTNER"
    )
    world.firm.overdue_escalation_days = 2
    world.firm.save(update_fields=["overdue_escalation_days"])
    set_zone(world.bob, "Europe/London")
    due_task(world, "Disclosure statement", D(2026, 6, 8))

    day_after = sent_at(utc(2026, 6, 9, 9))
    three_days = sent_at(utc(2026, 6, 11, 9))
    later = sent_at(utc(2026, 6, 15, 9))

    assert day_after == [(names.TASK_OVERDUE, "Disclosure statement", "1 day overdue")]
    assert three_days == [
        (
            names.TASK_OVERDUE,
            "Disclosure statement",
            "3 days overdue (assigned to Bob Stone)",
        )
    ]
    assert later == []
    recipients = ReminderSent.objects.order_by("id").values_list(
        "kind", "recipient__username"
    )
    assert list(recipients) == [("overdue", "bob"), ("escalated", "alice")]


@pytest.mark.django_db
def test_done_unassigned_and_closed_matter_tasks_are_never_reminded(
    world: World,
) -> None:
    done = due_task(world, "Done already", D(2026, 6, 8))
    services.task_update(actor=world.bob, task_id=done.pk, status="DONE")
    make_task(world.matter, "Nobody's", actor=world.alice, due_date=D(2026, 6, 8))
    closed = due_task(world, "On a closed matter", D(2026, 6, 8))
    closed.matter.closed_at = utc(2026, 6, 1)
    closed.matter.save(update_fields=["closed_at"])

    assert sent_at(utc(2026, 6, 11, 9)) == []


# --- what people see ---------------------------------------------------------------


@pytest.mark.django_db
def test_the_reminder_reaches_the_assignee_in_the_app(world: World) -> None:
    set_zone(world.bob, "Europe/London")
    task = due_task(world, "Witness statement", D(2026, 6, 12))
    mark = outbox_mark()
    send_due_reminders(now=utc(2026, 6, 11, 8))

    deliver_since(mark)

    [notice] = Notification.objects.filter(recipient=world.bob)
    assert notice.verb == Notification.Verb.REMINDER
    assert notice.summary == "“Witness statement”: due tomorrow"
    assert notice.url == f"/tasks/{task.pk}/"


@pytest.mark.django_db
def test_a_reminder_is_the_systems_event_and_says_whom_it_reminded(
    world: World,
) -> None:
    set_zone(world.bob, "Europe/London")
    due_task(world, "Witness statement", D(2026, 6, 12))
    mark = outbox_mark()
    send_due_reminders(now=utc(2026, 6, 11, 8))

    [event] = events_since(mark)
    assert event["actor"]["id"] is None
    assert event["context"]["source"] == "system"
    assert sentence_text(event) == (
        "Reminder sent to Bob Stone: “Witness statement” is due tomorrow"
    )


def test_reminders_are_in_the_tasks_history_but_not_in_anyones_calendar(
    world: World, pipeline
) -> None:
    today = dt.date.today()
    task = due_task(world, "Costs budget", today + dt.timedelta(days=1))
    bob_days = dict(
        firm=f"f_{world.firm.pk}",
        user_id=world.bob.pk,
        start_date=today - dt.timedelta(days=2),
        end_date=today + dt.timedelta(days=2),
        tz="UTC",
    )
    before = sum(store.daily_counts(**bob_days).values())

    with pipeline():
        send_due_reminders()

    client = Client()
    client.force_login(world.bob)
    history = client.get(f"/tasks/{task.pk}/history/").content.decode()
    assert "Reminder sent to Bob Stone" in history
    assert sum(store.daily_counts(**bob_days).values()) == before


# --- the real scheduler ------------------------------------------------------------


def wait_until(check, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.25)
    return False


def test_beat_sends_each_reminder_once_across_ticks_and_a_restart(
    world: World, event_store, celery_worker_factory
) -> None:
    """Beat runs the job every second in a real worker; the reminder arrives
    once, and neither more ticks nor a restarted worker sends it again."""
    today = dt.datetime.now(UTC).date()
    due_task(world, "Serve the claim form", today + dt.timedelta(days=1))
    set_zone(world.bob, "UTC")
    worker = celery_worker_factory(
        beat=True, extra_env={"REMINDER_SECONDS": "1", "DIGEST_SECONDS": "3600"}
    )

    def ticks() -> int:
        return worker.log().count("Sending due task due-reminders")

    def reminded() -> list[Notification]:
        return list(
            Notification.objects.filter(
                recipient=world.bob, verb=Notification.Verb.REMINDER
            )
        )

    assert wait_until(lambda: len(reminded()) == 1), worker.log()[-3000:]
    seen = ticks()
    assert wait_until(lambda: ticks() >= seen + 3), worker.log()[-3000:]
    worker.restart()
    seen = ticks()
    assert wait_until(lambda: ticks() >= seen + 3), worker.log()[-3000:]

    assert len(reminded()) == 1
    assert ReminderSent.objects.count() == 1
