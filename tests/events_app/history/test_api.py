"""The events API: the seed's three queries as JSON, with the pages' access rules."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import zoneinfo
from collections import Counter
from typing import Any

import pytest
from django.test import Client
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from events_app import names
from events_app.context import acting_as
from events_app.models import OutboxEvent
from tasks_app import services
from tasks_app.models import Membership
from tests.events_app import event_helpers
from tests.events_app.event_helpers import at, envelope_event
from tests.fixtures.factories import make_task, make_user

pipeline = event_helpers.pipeline
_usernames = itertools.count(1)


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def get(client: Client, url: str, **params: Any) -> tuple[int, Any]:
    response = client.get(url, params, HTTP_ACCEPT="application/json")
    assert response["Content-Type"].startswith("application/json"), response
    return response.status_code, json.loads(response.content)


@pytest.fixture
def bobs_events(world, event_store):
    """Bob's March 2023: completions, starts, comments and a few moves/views."""
    names = [
        "task.completed",
        "task.started",
        "comment.added",
        "task.updated",
        "task.moved",
        "task.viewed",
        "user.logged_in",
    ]
    events = [
        envelope_event(
            at(2023, 3, 1, 8) + dt.timedelta(hours=7 * i),
            names[i % len(names)],
            firm_id=world.firm.pk,
            actor=world.bob,
            matter=world.walled if i % 5 == 0 else world.matter,
        )
        for i in range(100)
    ]
    event_store.put_events(events)
    return events


def newest_first(events):
    return sorted(events, key=lambda e: (e["occurred_at"], e["id"]), reverse=True)


# --- /api/events/ -----------------------------------------------------------------


def test_events_between_two_times_newest_first_with_name_filters(world, bobs_events):
    client = client_for(world.bob)
    window = {"from": "2023-03-05T00:00:00Z", "to": "2023-03-20T00:00:00Z"}

    def expected(keep):
        return newest_first(
            [
                e
                for e in bobs_events
                if window["from"][:10] <= e["occurred_at"][:10] < window["to"][:10]
                and keep(e["name"])
            ]
        )

    status, everything = get(client, "/api/events/", limit=200, **window)
    _, tasks = get(client, "/api/events/", name_prefix="task.", limit=200, **window)
    _, chosen = get(
        client,
        "/api/events/",
        names="task.completed,task.started",
        limit=200,
        **window,
    )
    _, moves = get(client, "/api/events/", names="task.moved", limit=200, **window)

    assert status == 200
    assert everything["events"] == expected(
        lambda n: n not in ("task.moved", "task.viewed")
    )
    assert everything["next"] is None
    assert tasks["events"] == expected(
        lambda n: n.startswith("task.") and n not in ("task.moved", "task.viewed")
    )
    assert chosen["events"] == expected(
        lambda n: n in ("task.completed", "task.started")
    )
    assert moves["events"] == expected(lambda n: n == "task.moved")  # when asked


def test_events_page_through_with_the_next_cursor(world, bobs_events):
    client = client_for(world.bob)
    params = {"from": "2023-03-01", "to": "2023-03-31", "limit": 7}

    pages = []
    status, page = get(client, "/api/events/", **params)
    pages.append(page["events"])
    while page["next"]:
        status, page = get(client, "/api/events/", cursor=page["next"], **params)
        assert status == 200
        pages.append(page["events"])

    got = [e["id"] for p in pages for e in p]
    assert all(len(p) == 7 for p in pages[:-1])
    assert (
        len(got)
        == len(set(got))
        == sum(1 for e in bobs_events if e["name"] not in ("task.moved", "task.viewed"))
    )


def test_times_without_an_offset_are_in_the_tz_parameter(world, event_store):
    late = envelope_event(
        at(2023, 3, 28, 23, 30), firm_id=world.firm.pk, actor=world.bob
    )
    event_store.put_events([late])
    client = client_for(world.bob)

    _, london = get(
        client, "/api/events/", **{"from": "2023-03-29", "to": "2023-03-29"}
    )
    _, new_york = get(
        client,
        "/api/events/",
        tz="America/New_York",
        **{"from": "2023-03-29", "to": "2023-03-29"},
    )

    assert [e["id"] for e in london["events"]] == [late["id"]]
    assert new_york["events"] == []


# --- /api/activity/daily/ -----------------------------------------------------------


def test_daily_counts_have_the_seeds_exact_shape(world, event_store):
    events = [
        envelope_event(
            at(2023, 3, 27, 9) + dt.timedelta(minutes=i),
            firm_id=world.firm.pk,
            actor=world.bob,
        )
        for i in range(23)
    ] + [
        envelope_event(
            at(2023, 3, 28, 9) + dt.timedelta(minutes=i),
            "task.updated",
            firm_id=world.firm.pk,
            actor=world.bob,
        )
        for i in range(45)
    ]
    event_store.put_events(events)
    client = client_for(world.bob)

    status, counts = get(
        client, "/api/activity/daily/", **{"from": "2023-03-01", "to": "2023-03-31"}
    )
    _, completed = get(
        client,
        "/api/activity/daily/",
        names="task.completed",
        **{"from": "2023-03-01", "to": "2023-03-31"},
    )

    assert status == 200
    assert counts == {"2023-03-27": 23, "2023-03-28": 45}
    assert list(counts) == ["2023-03-27", "2023-03-28"]
    assert completed == {"2023-03-27": 23}


ZONES = [
    "UTC",
    "Europe/London",
    "America/New_York",
    "America/St_Johns",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "Pacific/Kiritimati",
]
YEAR = at(2023, 1, 1)
FILTERS = [
    {},
    {"name_prefix": "task."},
    {"names": "task.completed,task.started"},
    {"name_prefix": "comment."},
    {"names": "user.logged_in"},
]
NAMES = [
    "task.completed",
    "task.started",
    "task.updated",
    "task.moved",
    "task.viewed",
    "comment.added",
    "user.logged_in",
]


@st.composite
def instants(draw) -> dt.datetime:
    # Half anywhere in the year, half near a DST change or a local midnight.
    if draw(st.booleans()):
        return YEAR + dt.timedelta(seconds=draw(st.integers(0, 365 * 86400 - 1)))
    base = draw(
        st.sampled_from(
            [
                at(2023, 3, 26, 1),  # Europe: clocks forward
                at(2023, 10, 29, 1),  # Europe: clocks back
                at(2023, 3, 12, 7),  # New York: forward
                at(2023, 11, 5, 6),  # New York: back
                at(2023, 4, 1, 15),  # Lord Howe: back half an hour
                at(2023, 9, 23, 14),  # Chatham: forward
                at(2023, 6, 30, 18, 30),  # Kolkata midnight
            ]
        )
    )
    return base + dt.timedelta(minutes=draw(st.integers(-90, 90)))


def brute_force(events, tz, start, end, keep) -> dict[str, int]:
    zone = zoneinfo.ZoneInfo(tz)
    counts: Counter[str] = Counter()
    for e in events:
        if not keep(e["name"]):
            continue
        moment = dt.datetime.strptime(e["occurred_at"], "%Y-%m-%dT%H:%M:%S.%fZ")
        local = moment.replace(tzinfo=dt.UTC).astimezone(zone).date()
        if start <= local <= end:
            counts[local.isoformat()] += 1
    return dict(sorted(counts.items()))


def keeper(params: dict[str, str]):
    hidden = {"task.moved", "task.viewed"}
    if "names" in params:
        chosen = set(params["names"].split(",")) - {"task.viewed"}
        return lambda n: n in chosen
    prefix = params.get("name_prefix", "")
    return lambda n: n.startswith(prefix) and n not in hidden


@hsettings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    moments=st.lists(st.tuples(instants(), st.sampled_from(NAMES)), max_size=40),
    tz=st.sampled_from(ZONES),
    window=st.tuples(st.integers(-3, 364), st.integers(0, 365)),
    params=st.sampled_from(FILTERS),
)
def test_property_daily_counts_over_http_equal_a_brute_force_count(
    world, event_store, moments, tz, window, params
):
    # Each example is its own person in the firm, with a fresh partition.
    person = make_user(world.firm, f"p{next(_usernames)}", Membership.Role.ASSOCIATE)
    events = [
        envelope_event(moment, name, firm_id=world.firm.pk, actor=person)
        for moment, name in moments
    ]
    event_store.put_events(events)
    start = dt.date(2023, 1, 1) + dt.timedelta(days=window[0])
    end = start + dt.timedelta(days=window[1])

    status, counts = get(
        client_for(person),
        "/api/activity/daily/",
        tz=tz,
        **{"from": start.isoformat(), "to": end.isoformat()},
        **params,
    )

    assert status == 200
    assert counts == brute_force(events, tz, start, end, keeper(params))


# --- /api/tasks/<id>/history/ --------------------------------------------------------


def test_a_tasks_history_through_the_api_is_newest_first_with_its_comments(
    world, pipeline
):
    with pipeline(), acting_as(world.alice, source="web"):
        task = make_task(world.matter, "My task", actor=world.alice)
        services.comment_create(actor=world.alice, task_id=task.pk, body="On it")
    with pipeline(), acting_as(world.bob, source="web"):
        services.task_update(actor=world.bob, task_id=task.pk, status="DONE")

    status, body = get(client_for(world.carol), f"/api/tasks/{task.pk}/history/")

    assert status == 200
    assert [e["name"] for e in body["events"]] == [
        "task.completed",
        "comment.added",
        "task.created",
    ]
    assert body["events"][1]["parent"]["id"] == task.pk
    assert all("client_id" not in e["context"] for e in body["events"])
    assert body["next"] is None


def test_task_history_access_follows_the_task_page(world, connie, pipeline):
    with pipeline():
        walled = make_task(world.walled, "Secret", actor=world.alice)
        theirs = make_task(world.other_matter, "Theirs", actor=world.oscar)
        gone = make_task(world.matter, "Gone", actor=world.alice)
        services.task_delete(actor=world.alice, task_id=gone.pk)

    def status(user, task) -> int:
        return get(client_for(user), f"/api/tasks/{task.pk}/history/")[0]

    assert status(world.walt, walled) == 404
    assert status(world.bob, walled) == 200
    assert status(world.alice, theirs) == 404
    assert status(world.alice, gone) == 404
    # Auditors read deleted tasks' history; a walled one only compliance
    # officers (and the read is recorded); never another firm's.
    assert status(world.dora, gone) == 200
    assert status(world.dora, walled) == 404
    assert status(world.dora, theirs) == 404
    assert status(connie, walled) == 200
    assert status(connie, theirs) == 404
    read = OutboxEvent.objects.filter(name=names.AUDIT_WALLED_MATTER_VIEWED).get()
    assert read.payload["actor"]["id"] == connie.pk
    assert read.payload["matter"]["id"] == world.walled.pk


# --- access and validation -------------------------------------------------------


def test_a_person_sees_their_own_events_and_admins_see_their_firms(world, bobs_events):
    window = {"from": "2023-03-01", "to": "2023-03-31"}

    def status(viewer, subject) -> int:
        return get(client_for(viewer), "/api/events/", user=subject.pk, **window)[0]

    assert status(world.bob, world.bob) == 200
    assert status(world.dora, world.bob) == 200
    assert status(world.alice, world.bob) == 403
    assert status(world.oscar, world.bob) == 404
    assert status(world.dora, world.oscar) == 404
    # Bob's own record includes what he did on the walled matter (he is
    # inside); the firm admin, outside the wall, sees none of it.
    _, own = get(client_for(world.bob), "/api/events/", limit=200, **window)
    _, admin = get(
        client_for(world.dora), "/api/events/", user=world.bob.pk, limit=200, **window
    )
    walled = {e["id"] for e in own["events"] if e["matter"]["id"] == world.walled.pk}
    assert walled
    assert admin["events"]
    assert all(e["matter"]["id"] != world.walled.pk for e in admin["events"])


def test_anonymous_callers_get_401_json_not_a_redirect(db):
    for url in ["/api/events/", "/api/activity/daily/", "/api/tasks/1/history/"]:
        response = Client().get(url)
        assert response.status_code == 401
        assert json.loads(response.content) == {"error": "Log in first."}


@pytest.mark.parametrize(
    ("url", "params", "message"),
    [
        ("/api/events/", {"from": "yesterday", "to": "2023-03-01"}, "ISO 8601"),
        ("/api/events/", {"to": "2023-03-01"}, "required"),
        ("/api/events/", {"from": "2023-03-02", "to": "2023-03-01"}, "after"),
        ("/api/events/", {"from": "2022-01-01", "to": "2023-03-01"}, "366 days"),
        (
            "/api/events/",
            {"from": "2023-03-01", "to": "2023-03-02", "tz": "Mars/Olympus"},
            "timezone",
        ),
        (
            "/api/events/",
            {"from": "2023-03-01", "to": "2023-03-02", "cursor": "forged"},
            "cursor",
        ),
        (
            "/api/events/",
            {"from": "2023-03-01", "to": "2023-03-02", "names": "not a name"},
            "event name",
        ),
        (
            "/api/events/",
            {"from": "2023-03-01", "to": "2023-03-02", "limit": "5000"},
            "limit",
        ),
        (
            "/api/events/",
            {"from": "2023-03-01", "to": "2023-03-02", "user": "bob"},
            "user",
        ),
        ("/api/activity/daily/", {"from": "2023-02-30", "to": "2023-03-01"}, "date"),
        ("/api/activity/daily/", {"from": "2023-03-02", "to": "2023-03-01"}, "after"),
        ("/api/activity/daily/", {"from": "2022-01-01", "to": "2023-01-02"}, "366"),
        (
            "/api/activity/daily/",
            {"from": "2023-01-01", "to": "2023-01-02", "tz": "Nowhere"},
            "timezone",
        ),
        (
            "/api/activity/daily/",
            {"from": "2023-01-01", "to": "2023-01-02", "name_prefix": "ta sk"},
            "prefix",
        ),
        ("/api/tasks/1/history/", {"cursor": "forged"}, "cursor"),
        # Far dates: no overflow, no unpadded years; a 400 that says why.
        ("/api/events/", {"from": "2023-03-01", "to": "9999-12-31"}, "between"),
        ("/api/events/", {"from": "0001-01-01", "to": "0001-01-02"}, "between"),
        (
            "/api/events/",
            {"from": "0999-12-31T23:00:00+05:00", "to": "2023-01-01"},
            "between",
        ),
        ("/api/activity/daily/", {"from": "9999-12-30", "to": "9999-12-31"}, "between"),
        ("/api/activity/daily/", {"from": "0001-01-01", "to": "0001-01-31"}, "between"),
        # Names longer than any event name never reach the store.
        (
            "/api/events/",
            {"from": "2023-03-01", "to": "2023-03-02", "names": "task." + "x" * 2000},
            "event name",
        ),
        (
            "/api/activity/daily/",
            {"from": "2023-03-01", "to": "2023-03-02", "name_prefix": "a" * 1500},
            "prefix",
        ),
    ],
)
def test_bad_input_is_a_400_with_a_message(world, event_store, url, params, message):
    task = make_task(world.matter, actor=world.alice)
    url = url.replace("/tasks/1/", f"/tasks/{task.pk}/")

    status, body = get(client_for(world.alice), url, **params)

    assert status == 400
    assert message in body["error"]


def test_a_full_year_is_not_too_long(world, event_store):
    client = client_for(world.bob)

    daily, _ = get(
        client, "/api/activity/daily/", **{"from": "2024-01-01", "to": "2024-12-31"}
    )
    events, _ = get(
        client, "/api/events/", **{"from": "2024-01-01", "to": "2024-12-31"}
    )

    assert (daily, events) == (200, 200)


def test_an_unreachable_store_is_a_503_with_a_message(world):
    # No event_store: the session's store is pointed at a closed port.
    status, body = get(
        client_for(world.bob),
        "/api/activity/daily/",
        **{"from": "2023-03-01", "to": "2023-03-31"},
    )

    assert status == 503
    assert "unavailable" in body["error"]
