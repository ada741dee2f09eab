"""Calendar counts from the counters, equal to counting the events."""

from __future__ import annotations

import datetime as dt
import random
import zoneinfo

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from bench.naive_counts import naive_daily_counts
from events_app.store.client import call
from tests.events_app.store.helpers import (
    FIRM,
    NAMES,
    _user_ids,
    at,
    brute_force_daily,
    make_event,
    spread,
)

pytestmark = pytest.mark.services


EDGES = [
    # Europe/London, clocks forward 2023-03-26 01:00Z, back 2023-10-29 01:00Z.
    at(2023, 3, 25, 23, 59, 59),
    at(2023, 3, 26, 0, 0),
    at(2023, 3, 26, 0, 59, 59),
    at(2023, 3, 26, 1, 0),
    at(2023, 3, 26, 22, 59, 59),
    at(2023, 3, 26, 23, 0),
    at(2023, 10, 28, 22, 59, 59),
    at(2023, 10, 28, 23, 0),
    at(2023, 10, 29, 0, 30),
    at(2023, 10, 29, 1, 30),
    at(2023, 10, 29, 23, 59, 59),
    # Asia/Kolkata (+5:30) and Asia/Kathmandu (+5:45) midnights.
    at(2023, 7, 3, 18, 29, 59),
    at(2023, 7, 3, 18, 30),
    at(2023, 7, 4, 18, 14, 59),
    at(2023, 7, 4, 18, 15),
    at(2023, 7, 4, 18, 44, 59),
    at(2023, 7, 4, 18, 45),
]


@pytest.mark.parametrize(
    ("tz", "expected"),
    [
        (
            "Europe/London",
            {
                "2023-03-25": 1,
                "2023-03-26": 4,
                "2023-03-27": 1,
                "2023-10-28": 1,
                "2023-10-29": 4,
                "2023-10-30": 0,
                "2023-07-03": 2,
                "2023-07-04": 4,
            },
        ),
        (
            "Asia/Kolkata",
            {"2023-07-03": 1, "2023-07-04": 3, "2023-07-05": 2},
        ),
        (
            "Asia/Kathmandu",
            {"2023-07-03": 0, "2023-07-04": 3, "2023-07-05": 3},
        ),
    ],
)
def test_daily_counts_follow_the_viewers_local_days(event_store, tz, expected):
    events = [make_event(moment, NAMES[i % 5]) for i, moment in enumerate(EDGES)]
    event_store.put_events(events)
    year = {"start_date": dt.date(2023, 1, 1), "end_date": dt.date(2023, 12, 31)}

    counts = event_store.daily_counts(firm=FIRM, user_id=7, tz=tz, **year)

    for day, n in expected.items():
        assert counts.get(day, 0) == n, day
    assert counts == brute_force_daily(events, tz, **year)
    assert counts == naive_daily_counts(firm=FIRM, user_id=7, tz=tz, **year)


def test_daily_counts_filters_match_the_naive_count(event_store):
    rng = random.Random(5)
    events = [
        make_event(
            at(2023, 1, 1) + dt.timedelta(seconds=rng.randrange(86400 * 60)),
            rng.choice([*NAMES, "task.viewed"]),
        )
        for _ in range(300)
    ]
    event_store.put_events(events)
    span = {"start_date": dt.date(2023, 1, 5), "end_date": dt.date(2023, 2, 20)}
    filters = [
        {},
        {"names": {"task.completed", "task.started"}},
        {"names": {"task.viewed"}},
        {"name_prefix": "task."},
        {"name_prefix": "task.comp"},
        {"name_prefix": "user"},
        {"exclude_names": {"task.moved"}},
        {"name_prefix": "task.", "exclude_names": {"task.moved", "comment.added"}},
        {"names": {"task.completed", "comment.added"}, "name_prefix": "task."},
    ]

    for kwargs in filters:
        for tz in ("America/New_York", "Australia/Lord_Howe"):
            fast = event_store.daily_counts(
                firm=FIRM, user_id=7, tz=tz, **span, **kwargs
            )
            slow = naive_daily_counts(firm=FIRM, user_id=7, tz=tz, **span, **kwargs)
            assert fast == slow, (kwargs, tz)
    assert (
        sum(event_store.daily_counts(firm=FIRM, user_id=7, tz="UTC", **span).values())
        > 0
    )


def test_recount_user_repairs_wrong_counters_and_reports_the_difference(
    event_store,
):
    events = spread(at(2023, 8, 1, 8), 40, dt.timedelta(hours=5))
    event_store.put_events(events)
    counts_table = event_store.table_names().counts
    # Lose one day's counters and inflate another's.
    call(
        "delete_item",
        TableName=counts_table,
        Key={"pk": {"S": f"U#{FIRM}#7"}, "sk": {"S": "D#*#2023-08-02"}},
    )
    call(
        "update_item",
        TableName=counts_table,
        Key={"pk": {"S": f"U#{FIRM}#7"}, "sk": {"S": "D#*#2023-08-05"}},
        UpdateExpression="ADD t :n",
        ExpressionAttributeValues={":n": {"N": "3"}},
    )
    span = {"start_date": dt.date(2023, 8, 1), "end_date": dt.date(2023, 8, 31)}
    naive = naive_daily_counts(firm=FIRM, user_id=7, tz="UTC", **span)
    assert event_store.daily_counts(firm=FIRM, user_id=7, tz="UTC", **span) != naive

    dry = event_store.recount_user(firm=FIRM, user_id=7, dry_run=True)
    report = event_store.recount_user(firm=FIRM, user_id=7)
    again = event_store.recount_user(firm=FIRM, user_id=7, since=dt.date(2023, 8, 1))

    assert dry["corrections"] == report["corrections"]
    assert sorted(report["corrections"]) == ["2023-08-02", "2023-08-05"]
    # Filter series (`~<key>`) are counters like the others.
    filters = {"~all": 4, "~tasks": 4, "~progress": 4}
    assert report["corrections"]["2023-08-02"]["before"] == {
        "task.*": 4,
        "task.completed": 4,
        **filters,
    }
    assert report["corrections"]["2023-08-02"]["after"] == {
        "*": 4,
        "task.*": 4,
        "task.completed": 4,
        **filters,
    }
    before, after = (
        report["corrections"]["2023-08-05"][k]["*"] for k in ("before", "after")
    )
    assert before == after + 3
    assert report["events_counted"] == 40
    assert again["days_corrected"] == 0 and again["days_checked"] == 9
    assert event_store.daily_counts(firm=FIRM, user_id=7, tz="UTC", **span) == naive
    # Counting continues normally on a rebuilt day.
    event_store.put_events([make_event(at(2023, 8, 2, 23, 59))])
    assert event_store.daily_counts(
        firm=FIRM, user_id=7, tz="UTC", **span
    ) == naive_daily_counts(firm=FIRM, user_id=7, tz="UTC", **span)


ZONES = sorted(zoneinfo.available_timezones() - {"Factory", "localtime"})
DST_ZONES = [
    "Europe/London",
    "America/New_York",
    "America/Santiago",
    "America/St_Johns",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Australia/Eucla",
    "Pacific/Kiritimati",
    "Pacific/Pago_Pago",
]
YEAR_START = at(2023, 1, 1)
YEAR_SECONDS = 365 * 86400


@st.composite
def instants(draw) -> dt.datetime:
    # Half uniform over the year, half within an hour of a local midnight.
    if draw(st.booleans()):
        return YEAR_START + dt.timedelta(
            seconds=draw(st.integers(0, YEAR_SECONDS - 1)),
            microseconds=draw(st.integers(0, 999_999)),
        )
    day = draw(st.integers(0, 364))
    minutes = draw(st.sampled_from([0, 15, 30, 45, 60, 105, 330, 345, 600, 780]))
    sign = draw(st.sampled_from([-1, 1]))
    jitter = draw(st.integers(-90, 90))
    return YEAR_START + dt.timedelta(days=day, minutes=sign * minutes, seconds=jitter)


@hsettings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    moments=st.lists(
        st.tuples(instants(), st.sampled_from([*NAMES, "task.viewed"])), max_size=60
    ),
    tz=st.one_of(st.sampled_from(DST_ZONES), st.sampled_from(ZONES)),
    window=st.tuples(st.integers(-2, 370), st.integers(0, 400)),
    prefix=st.sampled_from([None, "task.", "comment.", "task.c"]),
)
def test_property_daily_counts_equal_a_brute_force_count(
    event_store, moments, tz, window, prefix
):
    # The tables are shared by all examples; each example is its own user.
    user_id = next(_user_ids)
    events = [make_event(moment, name, actor_id=user_id) for moment, name in moments]
    event_store.put_events(events)
    start_date = dt.date(2023, 1, 1) + dt.timedelta(days=window[0])
    end_date = start_date + dt.timedelta(days=window[1])

    counts = event_store.daily_counts(
        firm=FIRM,
        user_id=user_id,
        start_date=start_date,
        end_date=end_date,
        tz=tz,
        name_prefix=prefix,
    )

    assert counts == brute_force_daily(
        events,
        tz,
        start_date,
        end_date,
        keep=lambda name: prefix is None or name.startswith(prefix),
    )
