"""A matter's counters and the filters' own series: equal to counting the events."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random

import pytest

from events_app import names
from events_app.store import counters as store_counters
from events_app.store.client import call
from tests.events_app.store.helpers import FIRM, NAMES, at, make_event

pytestmark = pytest.mark.services

YEAR = {"start_date": dt.date(2023, 1, 1), "end_date": dt.date(2023, 12, 31)}
MATTER_NAMES = [
    *NAMES,
    "matter.updated",
    "milestone.progress_changed",
    "task.due_soon",
    "task.viewed",
]


def mixed_events(seed: int = 3, count: int = 300) -> list[dict]:
    """Events of three people and the system over 2023, on matters 3, 4 and none."""
    rng = random.Random(seed)
    start = at(2023, 1, 1)
    events = []
    for _ in range(count):
        when = start + dt.timedelta(minutes=rng.randrange(365 * 24 * 60))
        name = rng.choice(MATTER_NAMES)
        matter = None if name.startswith("user.") else rng.choice([3, 4, None])
        events.append(
            make_event(
                when,
                name,
                actor_id=rng.choice([7, 8, 9, None]),
                matter_id=matter,
                subject_id=rng.randrange(1, 50),
            )
        )
    return events


def counted_by_hand(events: list[dict], *, tz: str, **which: object) -> dict:
    """Per local day, the events a partition and filter count, from the events."""
    zone = store_counters.zone_of(tz)
    flt = names.CALENDAR_FILTERS[which["calendar_filter"]]
    days: dict[str, int] = {}
    for event in events:
        if "matter_id" in which:
            matter = event["matter"]
            if matter is None or matter["id"] != which["matter_id"]:
                continue
            if not names.is_counted_on_matter(event["name"]):
                continue
        elif event["actor"]["id"] != which["user_id"] or not names.is_counted(
            event["name"]
        ):
            continue
        if not flt.matches(event["name"]):
            continue
        moment = dt.datetime.fromisoformat(event["occurred_at"].replace("Z", "+00:00"))
        day = moment.astimezone(zone).date().isoformat()
        days[day] = days.get(day, 0) + 1
    return dict(sorted(days.items()))


@pytest.mark.parametrize("tz", ["Europe/London", "Asia/Kathmandu"])
def test_each_filter_series_equals_summing_the_name_counters(event_store, tz):
    events = mixed_events()
    event_store.put_events(events)

    for key, flt in names.CALENDAR_FILTERS.items():
        for user_id in (7, None):
            who = {"firm": FIRM, "user_id": user_id, "tz": tz, **YEAR}
            one_series = event_store.daily_counts(calendar_filter=key, **who)
            summed = event_store.daily_counts(**flt.store_kwargs(), **who)
            assert one_series == summed, (key, user_id)
        assert sum(event_store.daily_counts(calendar_filter="all", **who).values())


@pytest.mark.parametrize("key", sorted(names.CALENDAR_FILTERS))
def test_a_matter_counts_its_own_counted_events_under_every_filter(event_store, key):
    events = mixed_events()
    event_store.put_events(events)

    for matter_id in (3, 4):
        got = event_store.matter_daily_counts(
            firm=FIRM,
            matter_id=matter_id,
            tz="Europe/London",
            calendar_filter=key,
            **YEAR,
        )
        assert got == counted_by_hand(
            events, tz="Europe/London", matter_id=matter_id, calendar_filter=key
        )


def test_events_without_a_matter_and_the_clocks_reminders_are_not_counted_on_it(
    event_store,
):
    day = at(2023, 5, 2, 9)
    event_store.put_events(
        [
            make_event(day, "task.completed", matter_id=3),
            make_event(day, "user.logged_in", matter_id=None),
            make_event(day, "task.due_soon", actor_id=None, matter_id=3),
            make_event(day, "milestone.progress_changed", actor_id=None, matter_id=3),
            make_event(day, "task.viewed", matter_id=3),
            make_event(day, "matter.updated", matter_id=3),
        ]
    )
    counts = event_store.matter_daily_counts(
        firm=FIRM, matter_id=3, tz="UTC", calendar_filter="all", **YEAR
    )
    assert counts == {"2023-05-02": 2}
    assert (
        event_store.matter_daily_counts(
            firm="f_other", matter_id=3, tz="UTC", calendar_filter="all", **YEAR
        )
        == {}
    )


def test_a_redelivered_event_counts_once_on_its_matter(event_store):
    event = make_event(at(2023, 6, 1, 12), "comment.added", matter_id=4)
    event_store.put_events([event])
    event_store.put_events([event])
    assert event_store.matter_daily_counts(
        firm=FIRM, matter_id=4, tz="UTC", calendar_filter="comments", **YEAR
    ) == {"2023-06-01": 1}


def test_a_matters_counters_equal_its_recount(event_store):
    events = mixed_events(seed=11)
    event_store.put_events(events)

    report = event_store.recount_matter(firm=FIRM, matter_id=3)

    assert report["days_corrected"] == 0
    assert report["events_counted"] == sum(
        counted_by_hand(events, tz="UTC", matter_id=3, calendar_filter="all").values()
    ) + sum(
        1
        for e in events
        if e["matter"] and e["matter"]["id"] == 3 and e["name"] == "task.moved"
    )


def test_a_matters_lost_counters_are_rebuilt_by_the_recount(event_store):
    events = mixed_events(seed=5)
    event_store.put_events(events)
    right = {
        key: event_store.matter_daily_counts(
            firm=FIRM, matter_id=4, tz="UTC", calendar_filter=key, **YEAR
        )
        for key in names.CALENDAR_FILTERS
    }
    table = event_store.table_names().counts
    pk = {"S": f"M#{FIRM}#4"}
    for item in call(
        "query",
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": pk},
    )["Items"][:40]:
        call("delete_item", TableName=table, Key={"pk": pk, "sk": item["sk"]})

    report = event_store.recount_matter(firm=FIRM, matter_id=4)

    assert report["days_corrected"] > 0
    for key, counts in right.items():
        assert (
            event_store.matter_daily_counts(
                firm=FIRM, matter_id=4, tz="UTC", calendar_filter=key, **YEAR
            )
            == counts
        )


def test_a_changed_filter_definition_is_rebuilt_by_the_recount(
    event_store, monkeypatch
):
    events = mixed_events(seed=9)
    event_store.put_events(events)
    who = {"firm": FIRM, "user_id": 7, "tz": "UTC", **YEAR}
    on_matter = {"firm": FIRM, "matter_id": 3, "tz": "UTC", **YEAR}
    # "Completed and started" becomes "completed only"; "logins" is retired
    # and a new "milestones" filter appears.
    changed = dict(names.CALENDAR_FILTERS)
    changed["progress"] = dataclasses.replace(
        changed["progress"], names=("task.completed",)
    )
    del changed["logins"]
    changed["milestones"] = names.CalendarFilter(
        "milestones", "Milestones", name_prefix="milestone."
    )
    monkeypatch.setattr(names, "CALENDAR_FILTERS", changed)
    monkeypatch.setattr(store_counters, "CALENDAR_FILTERS", changed)
    stale = event_store.daily_counts(calendar_filter="progress", **who)
    assert stale != event_store.daily_counts(names={"task.completed"}, **who)

    user_report = event_store.recount_user(firm=FIRM, user_id=7)
    matter_report = event_store.recount_matter(firm=FIRM, matter_id=3)

    assert user_report["days_corrected"] and matter_report["days_corrected"]
    for key, flt in changed.items():
        assert event_store.daily_counts(
            calendar_filter=key, **who
        ) == event_store.daily_counts(**flt.store_kwargs(), **who), key
        assert event_store.matter_daily_counts(
            calendar_filter=key, **on_matter
        ) == counted_by_hand(events, tz="UTC", matter_id=3, calendar_filter=key), key
    # The retired filter's series are gone.
    assert all(
        "~logins" not in change["after"]
        for change in user_report["corrections"].values()
    )
    assert any(
        "~logins" in change["before"] for change in user_report["corrections"].values()
    )


def test_an_unknown_filter_or_a_filter_with_name_arguments_is_refused(event_store):
    who = {"firm": FIRM, "user_id": 7, "tz": "UTC", **YEAR}
    with pytest.raises(ValueError, match="unknown calendar filter"):
        event_store.daily_counts(calendar_filter="nope", **who)
    with pytest.raises(ValueError, match="does not combine"):
        event_store.daily_counts(calendar_filter="all", names={"task.created"}, **who)
