"""The demo's year of history: `seed_demo` as `make run` runs it, once per module.

The seed runs with real commits (so each week's commit wakes the relay, as
in `make run`) into this module's own DynamoDB Local tables; each test then
reads the result inside its own rolled-back transaction.
"""

from __future__ import annotations

import collections
import datetime as dt
import io
import time
import uuid
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.apps import apps
from django.core import mail
from django.core.management import call_command
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from events_app import envelope, names, store
from events_app.history import selectors as history
from events_app.models import Notification
from tasks_app.demo_history import PAST_MATTERS, TASK_TITLES
from tasks_app.models import Firm, Matter, Task, User

LONDON = zoneinfo.ZoneInfo("Europe/London")


@dataclass
class Seeded:
    event_store: dict[str, Any]
    emails: list[Any]
    seconds: float


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker, dynamodb_local) -> Iterator[Seeded]:
    from django.conf import settings

    event_store = {
        **settings.EVENT_STORE,
        "ENDPOINT_URL": dynamodb_local.endpoint_url,
        "TABLE_PREFIX": f"t{uuid.uuid4().hex[:12]}_",
    }
    with override_settings(EVENT_STORE=event_store), django_db_blocker.unblock():
        store.reset_client()
        store.ensure_tables()
        try:
            mail.outbox = []
            started = time.monotonic()
            call_command("seed_demo", stdout=io.StringIO())
            yield Seeded(event_store, list(mail.outbox), time.monotonic() - started)
        finally:
            call_command("flush", interactive=False, verbosity=0)
            store.delete_tables()
            store.reset_client()


@pytest.fixture
def demo(seeded: Seeded, db, settings) -> Seeded:
    """The seeded world, with the store pointed at the module's tables."""
    settings.EVENT_STORE = seeded.event_store
    store.reset_client()
    return seeded


def _firm_events(slug: str) -> list[dict[str, Any]]:
    firm = Firm.objects.get(slug=slug)
    now = timezone.now()
    return list(
        store.iter_events(
            store.query_firm_events,
            firm=envelope.firm_key(firm.pk),
            start=now - dt.timedelta(days=400),
            end=now + dt.timedelta(days=1),
        )
    )


def _row_counts() -> dict[str, int]:
    return {
        model.__name__: model._default_manager.count()
        for app in ("tasks_app", "events_app")
        for model in apps.get_app_config(app).get_models()
    }


def _past_tasks() -> Any:
    numbers = [p.number for plans in PAST_MATTERS.values() for p in plans]
    return Task.objects.filter(matter__number__in=numbers)


def test_seeding_again_changes_no_row_and_stores_no_event(demo) -> None:
    rows = _row_counts()
    stored = {slug: len(_firm_events(slug)) for slug in PAST_MATTERS}

    out = io.StringIO()
    call_command("seed_demo", stdout=out)

    assert "nothing changed" in out.getvalue()
    assert _row_counts() == rows
    assert {slug: len(_firm_events(slug)) for slug in PAST_MATTERS} == stored


def test_history_spans_the_year_on_working_days(demo) -> None:
    events = _firm_events("hartley-vale")
    days = collections.Counter(
        envelope.parse_instant(e["occurred_at"]).astimezone(LONDON).date()
        for e in events
    )
    today = timezone.localdate(timezone.now(), LONDON)

    assert 1_500 <= sum(days.values()) <= 8_000
    assert min(days) <= today - dt.timedelta(days=350)
    assert len({(d.year, d.month) for d in days}) >= 12
    weekdays = [n for d, n in days.items() if d.weekday() < 5]
    weekend = sum(n for d, n in days.items() if d.weekday() >= 5)
    weekend_days = sum((today - dt.timedelta(d)).weekday() >= 5 for d in range(365))
    assert len(weekdays) >= 200
    assert weekend / weekend_days < 0.1 * sum(weekdays) / len(weekdays)


def test_a_demo_persons_calendar_shows_busy_and_quiet_weeks(demo) -> None:
    bob = User.objects.get(username="bob")
    today = timezone.localdate(timezone.now(), LONDON)
    counts = history.calendar_counts(
        viewer=bob,
        subject=bob,
        start_date=today - dt.timedelta(days=365),
        end_date=today,
        tz="Europe/London",
        calendar_filter=names.CALENDAR_FILTERS[names.DEFAULT_CALENDAR_FILTER],
    )
    active = {day: n for day, n in counts.items() if n}
    # Whole weeks inside the year: each starts at nothing.
    weeks = {(today - dt.timedelta(days=d)).isocalendar()[:2]: 0 for d in range(7, 358)}
    for day, n in active.items():
        week = dt.date.fromisoformat(day).isocalendar()[:2]
        if week in weeks:
            weeks[week] += n
    totals = sorted(weeks.values())

    assert len(active) >= 150
    assert totals[-1] >= 1.8 * totals[len(totals) // 2]  # trial weeks
    assert totals[:2] == [0, 0]  # holidays

    client = Client()
    client.force_login(bob)
    page = client.get(reverse("activity", args=[bob.pk]))
    assert page.status_code == 200


def test_calendar_days_are_the_persons_local_days(demo) -> None:
    """Each event is counted on the local day (Dublin) it happened."""
    nina = User.objects.get(username="nina")
    events = [
        e
        for e in _firm_events("northgate-legal")
        if (e.get("actor") or {}).get("id") == nina.pk
        and e["name"] not in names.HIDDEN_FROM_FEEDS
    ]
    dublin = zoneinfo.ZoneInfo("Europe/Dublin")
    expected = collections.Counter(
        envelope.parse_instant(e["occurred_at"]).astimezone(dublin).date().isoformat()
        for e in events
    )
    today = timezone.localdate(timezone.now(), dublin)
    counts = history.calendar_counts(
        viewer=nina,
        subject=nina,
        start_date=today - dt.timedelta(days=365),
        end_date=today - dt.timedelta(days=1),
        tz="Europe/Dublin",
        calendar_filter=names.CALENDAR_FILTERS[names.DEFAULT_CALENDAR_FILTER],
    )
    past = {d: n for d, n in expected.items() if d < today.isoformat()}
    assert {d: n for d, n in counts.items() if n} == past


def test_a_past_task_shows_its_history_at_the_time_it_happened(demo) -> None:
    alice = User.objects.get(username="alice")
    task = (
        _past_tasks()
        .filter(matter__firm__slug="hartley-vale", status=Task.Status.DONE)
        .order_by("pk")
        .first()
    )
    page = history.task_history(viewer=alice, task_id=task.pk, limit=200)
    task_events = [e for e in page.items if e["subject"]["type"] == "task"]
    times = [envelope.parse_instant(e["occurred_at"]) for e in task_events]

    assert task.title in TASK_TITLES
    assert task_events[-1]["name"] == names.TASK_CREATED
    assert times[-1] == task.created_at
    assert times[0] == task.updated_at
    assert times == sorted(times, reverse=True)
    assert task.matter.created_at <= task.created_at < task.matter.closed_at
    assert task.matter.closed_at < timezone.now() - dt.timedelta(hours=1)
    assert {e["name"] for e in task_events} >= {
        names.TASK_CREATED,
        names.TASK_COMPLETED,
    }
    client = Client()
    client.force_login(alice)
    assert client.get(reverse("task_detail", args=[task.pk])).status_code == 200


def test_the_year_has_reviews_comments_and_mentions(demo) -> None:
    seen = collections.Counter(e["name"] for e in _firm_events("hartley-vale"))
    comments = [
        e
        for e in _firm_events("hartley-vale")
        if e["name"] == names.COMMENT_ADDED and "@" in e["changes"]["body"][1]
    ]
    for name in (
        names.USER_LOGGED_IN,
        names.TASK_CREATED,
        names.TASK_STARTED,
        names.TASK_MOVED,
        names.TASK_REVIEW_REQUESTED,
        names.TASK_APPROVED,
        names.TASK_CHANGES_REQUESTED,
        names.TASK_COMPLETED,
        names.COMMENT_ADDED,
        names.MATTER_CLOSED,
    ):
        assert seen[name] > 0, name
    assert comments


def test_history_tells_nobody(demo) -> None:
    past_matters = set(
        Matter.objects.filter(
            number__in=[p.number for plans in PAST_MATTERS.values() for p in plans]
        ).values_list("pk", flat=True)
    )
    done = set(
        Task.objects.filter(status=Task.Status.DONE).values_list("pk", flat=True)
    )

    assert not Notification.objects.filter(matter_id__in=past_matters).exists()
    assert not Notification.objects.filter(
        verb=Notification.Verb.ASSIGNED,
        read_at=None,
        event__subject__id__in=sorted(done),
    ).exists()
    past_names = [p.name for plans in PAST_MATTERS.values() for p in plans]
    for email in demo.emails:
        text = f"{email.subject}\n{email.body}"
        assert not any(name in text for name in past_names), email.subject
