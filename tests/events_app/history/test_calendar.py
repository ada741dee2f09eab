"""The activity calendar: a year of local days from the counters, and who may see it."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.test import Client

from events_app import bus, names, store
from events_app.context import acting_as
from events_app.history import calendar as activity
from events_app.live import groups as live
from events_app.reactions import live as handlers
from tasks_app import services
from tests.events_app import event_helpers
from tests.events_app.event_helpers import at, envelope_event
from tests.fixtures.factories import make_task

pipeline = event_helpers.pipeline


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def cells(html: str) -> dict[str, dict[str, str]]:
    """Each day's rect: its date -> attributes (count, level, label, title)."""
    found = {}
    for match in re.finditer(
        r"<rect class=\"day\" ([^>]*)><title>([^<]*)</title>", html
    ):
        attrs = dict(re.findall(r'([\w-]+)="([^"]*)"', match.group(1)))
        attrs["title"] = match.group(2)
        found[attrs["data-date"]] = attrs
    return found


def stat(html: str, name: str) -> str:
    return re.search(rf'data-stat="{name}">([^<]*)<', html).group(1)


# --- layout (pure) ----------------------------------------------------------------


def test_the_rolling_year_is_53_monday_first_weeks_ending_today():
    today = dt.date(2023, 3, 29)  # a Wednesday

    start, end = activity.period(today=today)
    calendar = activity.build(counts={}, start=start, end=end)

    assert start == dt.date(2022, 3, 28) and start.weekday() == 0
    assert end == today
    assert calendar.weeks == 53
    assert calendar.days[0].weekday == 0 and calendar.days[-1].weekday == 2
    assert len(calendar.days) == 52 * 7 + 3
    assert [label.text for label in calendar.weekdays] == ["Mon", "Wed", "Fri"]
    months = [label.text for label in calendar.months]
    assert months[:2] == ["Apr", "May"] and months[-1] == "Mar"
    assert len(months) == 12


def test_a_calendar_year_runs_from_january_to_december_or_today():
    past = activity.period(today=dt.date(2024, 6, 1), year=2023)
    current = activity.period(today=dt.date(2024, 6, 1), year=2024)
    grid = activity.build(counts={}, start=past[0], end=past[1])

    assert past == (dt.date(2023, 1, 1), dt.date(2023, 12, 31))
    assert current == (dt.date(2024, 1, 1), dt.date(2024, 6, 1))
    # 1 Jan 2023 was a Sunday: the first column holds only that day.
    assert grid.days[0].weekday == 6 and grid.days[0].week == 0
    assert grid.weeks == 53
    assert grid.months[0].text == "Jan" and len(grid.months) == 12


def test_five_levels_follow_the_quartiles_of_the_persons_busy_days():
    counts = [0, 1, 2, 3, 4, 5, 6, 7, 8, 20]

    bounds = activity.thresholds(counts)

    assert bounds == [3, 5, 7, 20]
    assert [activity.level(c, bounds) for c in counts] == [0, 1, 1, 1, 2, 2, 3, 3, 4, 4]
    assert activity.thresholds([0, 0]) == []


def test_the_busiest_day_is_always_the_darkest_even_when_it_is_the_only_one():
    assert activity.level(9, activity.thresholds([9])) == 4
    same = [3, 3, 3]
    assert {activity.level(c, activity.thresholds(same)) for c in same} == {4}


def test_labels_totals_and_the_longest_streak():
    start = dt.date(2023, 3, 20)
    counts = {"2023-03-21": 2, "2023-03-22": 1, "2023-03-23": 4, "2023-03-27": 23}

    calendar = activity.build(counts=counts, start=start, end=dt.date(2023, 3, 31))
    by_date = {d.key: d for d in calendar.days}

    assert by_date["2023-03-27"].label == "23 events on Monday 27 March 2023"
    assert by_date["2023-03-22"].label == "1 event on Wednesday 22 March 2023"
    assert by_date["2023-03-20"].label == "No events on Monday 20 March 2023"
    assert (calendar.total, calendar.active_days, calendar.longest_streak) == (30, 4, 3)
    assert calendar.busiest.key == "2023-03-27"


def test_filters_say_which_names_count():
    tasks, progress = (
        names.CALENDAR_FILTERS["tasks"],
        names.CALENDAR_FILTERS["progress"],
    )

    assert names.CALENDAR_FILTERS["all"].matches("comment.added")
    assert not names.CALENDAR_FILTERS["all"].matches("task.moved")
    assert not names.CALENDAR_FILTERS["all"].matches("task.viewed")
    assert tasks.matches("task.completed") and not tasks.matches("task.moved")
    assert not tasks.matches("comment.added")
    assert progress.matches("task.started") and not progress.matches("task.created")
    assert names.CALENDAR_FILTERS["comments"].matches("comment.edited")
    assert names.CALENDAR_FILTERS["logins"].matches("user.logged_in")
    assert not names.CALENDAR_FILTERS["logins"].matches("user.logged_out")


# --- the page --------------------------------------------------------------------


@pytest.fixture
def bobs_march(world, event_store):
    """Bob's events around 27 March 2023 (London went to BST on the 26th)."""
    events = [
        envelope_event(
            at(2023, 3, 27, 9) + dt.timedelta(minutes=i),
            ["task.completed", "task.updated", "comment.added"][i % 3],
            firm_id=world.firm.pk,
            actor=world.bob,
            matter=world.matter,
        )
        for i in range(23)
    ]
    events += [
        # 23:30 UTC on the 28th is 00:30 on the 29th in London.
        envelope_event(at(2023, 3, 28, 23, 30), firm_id=world.firm.pk, actor=world.bob),
        envelope_event(
            at(2023, 3, 28, 12), "task.moved", firm_id=world.firm.pk, actor=world.bob
        ),
        envelope_event(
            at(2023, 3, 28, 12), "task.viewed", firm_id=world.firm.pk, actor=world.bob
        ),
        envelope_event(
            at(2023, 3, 28, 13),
            "user.logged_in",
            firm_id=world.firm.pk,
            actor=world.bob,
        ),
    ]
    event_store.put_events(events)
    return events


def test_my_calendar_draws_the_counts_of_my_local_days(world, bobs_march):
    html = client_for(world.bob).get("/activity/?year=2023").content.decode()

    days = cells(html)
    assert len(days) == 365
    assert days["2023-03-27"]["data-count"] == "23"
    assert days["2023-03-27"]["aria-label"] == "23 events on Monday 27 March 2023"
    assert days["2023-03-27"]["title"] == "23 events on Monday 27 March 2023"
    assert days["2023-03-28"]["data-count"] == "1"  # the login; no move, no view
    assert days["2023-03-29"]["data-count"] == "1"  # local day of 23:30 UTC
    assert days["2023-03-27"]["data-level"] == "4"
    assert stat(html, "total") == "25"
    assert stat(html, "streak") == "3 days"
    assert f'data-user-id="{world.bob.pk}"' in html
    assert 'data-tz="Europe/London"' in html


def test_the_viewers_timezone_decides_the_days(world, bobs_march):
    world.bob.timezone = "America/New_York"
    world.bob.save()

    days = cells(client_for(world.bob).get("/activity/?year=2023").content.decode())

    assert days["2023-03-28"]["data-count"] == "2"  # 19:30 on the 28th in New York
    assert days["2023-03-29"]["data-count"] == "0"


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("all", {"2023-03-27": "23", "2023-03-28": "1", "2023-03-29": "1"}),
        ("tasks", {"2023-03-27": "16", "2023-03-28": "0", "2023-03-29": "1"}),
        ("progress", {"2023-03-27": "8", "2023-03-28": "0", "2023-03-29": "1"}),
        ("comments", {"2023-03-27": "7", "2023-03-28": "0", "2023-03-29": "0"}),
        ("logins", {"2023-03-27": "0", "2023-03-28": "1", "2023-03-29": "0"}),
    ],
)
def test_each_filter_counts_its_own_events(world, bobs_march, key, expected):
    html = (
        client_for(world.bob)
        .get(f"/people/{world.bob.pk}/activity/grid/?year=2023&filter={key}")
        .content.decode()
    )

    days = cells(html)
    assert {d: days[d]["data-count"] for d in expected} == expected
    assert f"&quot;key&quot;: &quot;{key}&quot;" in html


def test_a_calendar_render_reads_the_counters_once_and_never_the_events(
    world, bobs_march, monkeypatch
):
    calls: list[str] = []
    real = store.daily_counts
    monkeypatch.setattr(
        store, "daily_counts", lambda **kw: calls.append("counters") or real(**kw)
    )
    monkeypatch.setattr(
        store, "query_user_events", lambda **kw: calls.append("events") or None
    )

    response = client_for(world.bob).get("/activity/?filter=tasks")

    assert response.status_code == 200
    assert calls == ["counters"]


def test_firm_admins_see_anyones_calendar_in_their_firm_and_nobody_elses(
    world, bobs_march
):
    bob_url = f"/people/{world.bob.pk}/activity/?year=2023"

    assert client_for(world.dora).get(bob_url).status_code == 200
    assert client_for(world.alice).get(bob_url).status_code == 403
    assert client_for(world.oscar).get(bob_url).status_code == 404
    oscar_url = f"/people/{world.oscar.pk}/activity/"
    assert client_for(world.dora).get(oscar_url).status_code == 404
    assert client_for(world.dora).get(f"/activity/?user={world.bob.pk}").url == (
        f"/people/{world.bob.pk}/activity/"
    )
    anonymous = Client().get(bob_url)
    assert anonymous.status_code == 302 and "/login/" in anonymous.url


def test_bad_calendar_input_is_a_400(world, bobs_march):
    client = client_for(world.bob)

    assert client.get("/activity/?year=1999").status_code == 400
    assert client.get("/activity/?year=soon").status_code == 400
    assert client.get("/activity/?filter=everything").status_code == 400


def test_the_filter_form_pushes_the_page_address_when_it_swaps_the_grid(
    world, bobs_march
):
    response = client_for(world.bob).get(
        f"/people/{world.bob.pk}/activity/grid/?filter=comments&year=2023",
        HTTP_HX_REQUEST="true",
        HTTP_HX_TRIGGER="calendar-controls",
    )

    assert response["HX-Push-Url"] == (
        f"/people/{world.bob.pk}/activity/?year=2023&filter=comments"
    )


def test_nav_shows_my_activity_and_audit_only_to_auditors(world):
    alice = client_for(world.alice).get("/").content.decode()
    dora = client_for(world.dora).get("/").content.decode()

    assert 'href="/activity/"' in alice and 'href="/audit/"' not in alice
    assert 'href="/activity/"' in dora and 'href="/audit/"' in dora


# --- live -------------------------------------------------------------------------


def payloads_sent(monkeypatch) -> list[tuple[int, dict[str, Any]]]:
    sent: list[tuple[int, dict[str, Any]]] = []
    monkeypatch.setattr(
        live,
        "send_to_activity",
        lambda user_id, payload: sent.append((user_id, payload)),
    )
    return sent


def test_activity_live_tells_the_actors_calendars_of_counted_events(
    db, monkeypatch, django_capture_on_commit_callbacks
):
    sent = payloads_sent(monkeypatch)
    completed = envelope_event(at(2023, 3, 29, 16, 31), firm_id=1)
    completed["actor"] = {"id": 7, "name": "Bob"}

    with django_capture_on_commit_callbacks(execute=True):
        handlers.activity_live(completed)

    assert sent == [
        (
            7,
            {
                "kind": "activity",
                "user_id": 7,
                "occurred_at": completed["occurred_at"],
                "name": "task.completed",
            },
        )
    ]


@pytest.mark.parametrize("name", ["task.moved", "task.viewed"])
def test_activity_live_stays_quiet_for_what_the_calendar_does_not_count(
    db, monkeypatch, django_capture_on_commit_callbacks, name
):
    sent = payloads_sent(monkeypatch)
    event = envelope_event(at(2023, 3, 29), name, firm_id=1)
    event["actor"] = {"id": 7, "name": "Bob"}
    system = envelope_event(at(2023, 3, 29), "task.updated", firm_id=1)

    with django_capture_on_commit_callbacks(execute=True):
        handlers.activity_live(event)
        handlers.activity_live(system)

    assert sent == []
    assert "activity_live:task.completed" in {s.name for s in bus.subscriptions()}
    assert not any(
        s.name.startswith("activity_live") for s in bus.handlers_for(names.TASK_MOVED)
    )


async def receive_within(layer: Any, channel: str, seconds: float) -> dict:
    return await asyncio.wait_for(layer.receive(channel), seconds)


def test_a_completion_reaches_the_calendars_group_through_the_pipeline(world, pipeline):
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    group = live.activity_group(world.bob.pk)
    async_to_sync(layer.group_add)(group, channel)
    try:
        task = make_task(world.matter, "My task", actor=world.alice)
        with pipeline(), acting_as(world.bob, source="web"):
            services.task_update(actor=world.bob, task_id=task.pk, status="DONE")

        message = async_to_sync(receive_within)(layer, channel, 10)
    finally:
        async_to_sync(layer.group_discard)(group, channel)

    assert message["group"] == group
    assert json.loads(message["text"])["kind"] == "activity"
    assert json.loads(message["text"])["user_id"] == world.bob.pk
    assert json.loads(message["text"])["name"] == "task.completed"
