"""The morning digest: one email per person, in their own morning, once a day.

`send_digests(now=...)` is the scheduled job's body (beat runs it every
quarter hour); the instants are chosen around each person's DIGEST_HOUR.
"""

from __future__ import annotations

import datetime as dt

import pytest

from events_app.models import DigestSent, NotificationPreference
from events_app.notifications.digest import send_digests
from tasks_app import services
from tasks_app.models import MatterMember
from tests.fixtures.factories import World, make_task

pytestmark = pytest.mark.django_db

UTC = dt.UTC
D = dt.date


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


@pytest.fixture
def morning(world: World, settings) -> World:
    """Bob in London, Carol in Tokyo, each with work due on 10 June 2026."""
    settings.DIGEST_HOUR = 7
    settings.SITE_URL = "https://hivelight.example"
    world.bob.timezone = "Europe/London"
    world.bob.save(update_fields=["timezone"])
    world.carol.timezone = "Asia/Tokyo"
    world.carol.save(update_fields=["timezone"])
    make_task(
        world.matter,
        "Bob's today",
        actor=world.alice,
        assignee=world.bob,
        due_date=D(2026, 6, 10),
    )
    make_task(
        world.matter,
        "Carol's today",
        actor=world.alice,
        assignee=world.carol,
        due_date=D(2026, 6, 10),
    )
    return world


def test_each_person_gets_theirs_from_seven_in_their_own_morning(
    morning: World, mailoutbox
) -> None:
    # 05:30 UTC: 06:30 in London (too early), 14:30 in Tokyo.
    first = send_digests(now=utc(2026, 6, 10, 5, 30))
    tokyo = [m.to for m in mailoutbox]
    # 06:15 UTC: 07:15 in London; Carol already has hers.
    second = send_digests(now=utc(2026, 6, 10, 6, 15))

    assert (first, second) == (1, 1)
    assert tokyo == [["carol@example.test"]]
    assert [m.to for m in mailoutbox] == [
        ["carol@example.test"],
        ["bob@example.test"],
    ]


def test_a_rerun_the_same_morning_sends_nothing_and_the_next_day_sends_again(
    morning: World, mailoutbox
) -> None:
    send_digests(now=utc(2026, 6, 10, 6, 15))
    sent = len(mailoutbox)

    again = send_digests(now=utc(2026, 6, 10, 6, 30))
    evening = send_digests(now=utc(2026, 6, 10, 20))
    next_day = send_digests(now=utc(2026, 6, 11, 6, 15))

    assert (again, evening) == (0, 0)
    assert sent == 2 and next_day == 2
    assert DigestSent.objects.filter(user=morning.bob).count() == 2


def test_it_lists_due_today_overdue_and_waiting_for_my_review(
    morning: World, mailoutbox
) -> None:
    world = morning
    MatterMember.objects.create(matter=world.matter, user=world.bob)
    make_task(
        world.matter,
        "Late one",
        actor=world.alice,
        assignee=world.bob,
        due_date=D(2026, 6, 3),
    )
    make_task(
        world.matter,
        "Next week",
        actor=world.alice,
        assignee=world.bob,
        due_date=D(2026, 6, 17),
    )
    to_review = make_task(
        world.matter,
        "Carol's draft",
        actor=world.carol,
        assignee=world.carol,
        reviewer=world.bob,
    )
    services.task_update(actor=world.carol, task_id=to_review.pk, status="IN_REVIEW")
    done = make_task(
        world.matter,
        "Done late one",
        actor=world.alice,
        assignee=world.bob,
        due_date=D(2026, 6, 2),
    )
    services.task_update(actor=world.bob, task_id=done.pk, status="DONE")

    send_digests(now=utc(2026, 6, 10, 6, 15))

    [mail] = [m for m in mailoutbox if m.to == ["bob@example.test"]]
    assert mail.subject == (
        "Your day on Hivelight: 1 due today, 1 overdue, 1 to review"
    )
    body = mail.body
    assert "Due today:\n- HV-001 Bob's today:" in body
    assert "Overdue:\n- HV-001 Late one (due 03 Jun):" in body
    assert "Waiting for your review:\n- HV-001 Carol's draft:" in body
    assert f"https://hivelight.example/tasks/{to_review.pk}/" in body
    for absent in ("Next week", "Done late one", "Carol's today"):
        assert absent not in body
    assert body.endswith(
        "notification settings page: https://hivelight.example/notifications/settings/"
    )


def test_people_who_turned_it_off_or_have_nothing_get_no_email(
    morning: World, mailoutbox
) -> None:
    NotificationPreference.objects.create(user=morning.bob, email_digest=False)

    send_digests(now=utc(2026, 6, 10, 6, 15))

    # Carol's comes; Bob opted out; Alice, Dora and Walt have nothing due.
    assert [m.to for m in mailoutbox] == [["carol@example.test"]]


def test_tasks_of_closed_matters_are_left_out(morning: World, mailoutbox) -> None:
    morning.matter.closed_at = utc(2026, 6, 1)
    morning.matter.save(update_fields=["closed_at"])

    send_digests(now=utc(2026, 6, 10, 6, 15))

    assert mailoutbox == []
