"""The event store against a real DynamoDB Local: writes, queries, counters."""

from __future__ import annotations

import datetime as dt
import itertools
import random
import time
import zoneinfo
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from events_app import store
from events_app.envelope import isoformat, uuid7

pytestmark = pytest.mark.services

UTC = dt.UTC
FIRM = "f_1"
OTHER_FIRM = "f_2"
NAMES = [
    "task.created",
    "task.updated",
    "task.started",
    "task.completed",
    "task.assigned",
    "task.moved",
    "comment.added",
    "milestone.completed",
    "user.logged_in",
]
_user_ids = itertools.count(1000)


def at(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def make_event(
    when: dt.datetime,
    name: str = "task.completed",
    *,
    firm: str = FIRM,
    actor_id: int | None = 7,
    subject_id: int = 1234,
    subject_type: str = "task",
    matter_id: int | None = 3,
    **extra: Any,
) -> dict[str, Any]:
    event = {
        "id": uuid7(when),
        "name": name,
        "version": 1,
        "occurred_at": isoformat(when),
        "firm": firm,
        "actor": {"id": actor_id, "name": "Bob" if actor_id else "system"},
        "subject": {"type": subject_type, "id": subject_id, "label": "My task"},
        "matter": (
            {"id": matter_id, "label": "Smith v Jones"}
            if matter_id is not None
            else None
        ),
        "changes": {"status": ["IN_PROGRESS", "DONE"]},
        "context": {"source": "web", "request_id": "r-1"},
    }
    event.update(extra)
    return event


def spread(
    start: dt.datetime, count: int, step: dt.timedelta, **kwargs: Any
) -> list[dict[str, Any]]:
    return [make_event(start + i * step, **kwargs) for i in range(count)]


def all_pages(query, **kwargs: Any) -> list[list[dict[str, Any]]]:
    pages, cursor = [], None
    while True:
        page = query(cursor=cursor, **kwargs)
        pages.append(page.items)
        if page.next_cursor is None:
            return pages
        cursor = page.next_cursor


def ids(events: list[dict[str, Any]]) -> list[str]:
    return [e["id"] for e in events]


def brute_force_daily(
    events: list[dict[str, Any]],
    tz: str,
    start_date: dt.date,
    end_date: dt.date,
    keep=lambda name: True,
) -> dict[str, int]:
    zone = zoneinfo.ZoneInfo(tz)
    counts: Counter[str] = Counter()
    for e in events:
        if not store.is_counted(e["name"]) or not keep(e["name"]):
            continue
        instant = dt.datetime.strptime(e["occurred_at"], "%Y-%m-%dT%H:%M:%S.%fZ")
        local = instant.replace(tzinfo=UTC).astimezone(zone).date()
        if start_date <= local <= end_date:
            counts[local.isoformat()] += 1
    return dict(sorted(counts.items()))


# --- writes ------------------------------------------------------------------------


def test_an_event_reads_back_equal_to_the_envelope_it_was_written_as(event_store):
    with_matter = make_event(at(2023, 3, 29, 17, 31, 9, 123456))
    with_matter["changes"] = {
        "description": ["old text", "new — text ✓"],
        "due": [None, "2023-04-01"],
        "estimate": [1.5, 2],
        "flags": [[], [True, False, {"nested": None}]],
    }
    without_matter = make_event(
        at(2023, 3, 29, 18), "user.logged_in", matter_id=None, subject_type="user"
    )
    with_parent = make_event(
        at(2023, 3, 29, 19),
        "comment.added",
        subject_type="comment",
        parent={"type": "task", "id": 1234, "label": "My task"},
        trace={"id": "p-1", "n": 2},
    )
    system = make_event(at(2023, 3, 29, 20), "milestone.completed", actor_id=None)

    result = event_store.put_events([with_matter, without_matter, with_parent, system])

    assert sorted(result.written) == sorted(
        ids([with_matter, without_matter, with_parent, system])
    )
    page = event_store.query_user_events(firm=FIRM, user_id=7, newest_first=False)
    assert page.items == [with_matter, without_matter, with_parent]
    assert event_store.query_user_events(firm=FIRM, user_id=None).items == [system]
    assert (
        event_store.get_event(
            firm=FIRM,
            user_id=7,
            occurred_at=with_matter["occurred_at"],
            event_id=with_matter["id"],
        )
        == with_matter
    )


def test_a_redelivered_event_is_stored_once_and_counted_once(event_store):
    event = make_event(at(2023, 3, 29, 17, 31))

    first = event_store.put_events([event])
    again = event_store.put_events([event])
    single = event_store.put_event_single(event)

    assert first.written == [event["id"]] and first.duplicates == []
    assert again.written == [] and again.duplicates == [event["id"]]
    assert single is False
    assert event_store.query_user_events(firm=FIRM, user_id=7).items == [event]
    assert event_store.daily_counts(
        firm=FIRM,
        user_id=7,
        start_date=dt.date(2023, 3, 29),
        end_date=dt.date(2023, 3, 29),
        tz="UTC",
    ) == {"2023-03-29": 1}


def test_a_batch_mixing_new_and_stored_events_writes_and_counts_only_the_new(
    event_store,
):
    day = at(2023, 5, 2, 9)
    stored = spread(day, 5, dt.timedelta(minutes=7))
    event_store.put_events(stored)
    fresh = spread(day + dt.timedelta(hours=3), 6, dt.timedelta(minutes=5))
    batch = [stored[0], fresh[0], fresh[1], stored[3], fresh[2], fresh[2], *fresh[3:]]

    result = event_store.put_events(batch)

    assert sorted(result.written) == sorted(ids(fresh))
    assert sorted(result.duplicates) == sorted(
        [stored[0]["id"], stored[3]["id"], fresh[2]["id"]]
    )
    counts = event_store.daily_counts(
        firm=FIRM,
        user_id=7,
        start_date=dt.date(2023, 5, 2),
        end_date=dt.date(2023, 5, 2),
        tz="UTC",
    )
    assert counts == {"2023-05-02": 11}


def test_a_single_call_with_more_than_100_events_stores_and_counts_them_all(
    event_store,
):
    # One user and one day: every event shares one counter item, so the
    # batches must split on the per-item update budget as well as on 100.
    same_day = spread(at(2023, 6, 1), 180, dt.timedelta(minutes=8))
    for i, e in enumerate(same_day):
        e["name"] = NAMES[i % len(NAMES)]
    # 30 users on many days: many counter items per transaction.
    many_users = [
        make_event(at(2023, 6, 2) + dt.timedelta(hours=i), actor_id=100 + i % 30)
        for i in range(130)
    ]
    small = spread(at(2023, 6, 10), 30, dt.timedelta(minutes=1))

    assert len(event_store.put_events(same_day).written) == 180
    assert len(event_store.put_events(many_users).written) == 130
    assert len(event_store.put_events(small).written) == 30

    june = {"start_date": dt.date(2023, 6, 1), "end_date": dt.date(2023, 6, 30)}
    assert event_store.daily_counts(firm=FIRM, user_id=7, tz="UTC", **june) == {
        "2023-06-01": 180,
        "2023-06-10": 30,
    }
    per_user = [
        sum(
            event_store.daily_counts(
                firm=FIRM, user_id=100 + u, tz="UTC", **june
            ).values()
        )
        for u in range(30)
    ]
    assert sum(per_user) == 130
    assert (
        len(
            list(
                event_store.iter_events(
                    event_store.query_user_events, firm=FIRM, user_id=7
                )
            )
        )
        == 210
    )


def test_an_invalid_event_is_refused_before_anything_is_written(event_store):
    good = make_event(at(2023, 1, 1, 12))
    bad = make_event(at(2023, 1, 1, 13))
    bad["occurred_at"] = "2023-01-01 13:00:00"

    with pytest.raises(ValueError, match="occurred_at"):
        event_store.put_events([good, bad])

    assert event_store.query_user_events(firm=FIRM, user_id=7).items == []


def test_task_viewed_expires_after_the_retention_period_and_is_not_counted(
    event_store, settings
):
    settings.TASK_VIEWED_RETENTION_DAYS = 30
    when = at(2023, 3, 29, 10)
    viewed = make_event(when, "task.viewed")
    completed = make_event(when + dt.timedelta(minutes=1))
    event_store.put_events([viewed, completed])

    def raw(event: dict[str, Any]) -> dict[str, Any]:
        return event_store._call(
            "get_item",
            TableName=event_store.table_names().events,
            Key={
                "pk": {"S": f"U#{FIRM}#7"},
                "sk": {"S": f"{event['occurred_at']}#{event['id']}"},
            },
        )["Item"]

    expires = int(raw(viewed)["expires_at"]["N"])
    assert expires == int((when + dt.timedelta(days=30)).timestamp())
    assert "expires_at" not in raw(completed)
    assert event_store.daily_counts(
        firm=FIRM,
        user_id=7,
        start_date=dt.date(2023, 3, 29),
        end_date=dt.date(2023, 3, 29),
        tz="UTC",
        name_prefix="task.",
    ) == {"2023-03-29": 1}


# --- queries -----------------------------------------------------------------------


@pytest.fixture
def month_of_events(event_store):
    """60 events of user 7 over March 2023, and noise around them."""
    events = []
    for i in range(60):
        e = make_event(
            at(2023, 3, 1) + dt.timedelta(hours=11 * i + 1),
            NAMES[i % len(NAMES)],
            subject_id=1 + i % 4,
            matter_id=[3, 4, None][i % 3],
        )
        events.append(e)
    others = [
        make_event(at(2023, 3, 5, 12), actor_id=8, subject_id=1, matter_id=3),
        make_event(at(2023, 3, 6, 12), firm=OTHER_FIRM, subject_id=1, matter_id=3),
        make_event(at(2023, 3, 7, 12), firm=OTHER_FIRM, actor_id=7, matter_id=3),
    ]
    event_store.put_events(events + others)
    return events, others


def newest_first(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(events, key=lambda e: (e["occurred_at"], e["id"]), reverse=True)


def test_user_events_between_two_instants_include_start_and_exclude_end(
    event_store, month_of_events
):
    events, _ = month_of_events
    start = dt.datetime.strptime(events[10]["occurred_at"], "%Y-%m-%dT%H:%M:%S.%fZ")
    end = dt.datetime.strptime(events[20]["occurred_at"], "%Y-%m-%dT%H:%M:%S.%fZ")

    page = event_store.query_user_events(
        firm=FIRM,
        user_id=7,
        start=start.replace(tzinfo=UTC),
        end=end.replace(tzinfo=UTC).astimezone(zoneinfo.ZoneInfo("Asia/Tokyo")),
    )

    assert page.items == newest_first(events[10:20])
    assert page.next_cursor is None


def test_user_events_filter_by_names_prefix_and_project_fields(
    event_store, month_of_events
):
    events, _ = month_of_events
    march = {"start": at(2023, 3, 1), "end": at(2023, 4, 1)}
    wanted = {"task.completed", "task.started"}

    by_names = event_store.query_user_events(
        firm=FIRM, user_id=7, names=wanted, **march
    )
    by_prefix = event_store.query_user_events(
        firm=FIRM, user_id=7, name_prefix="comment.", **march
    )
    excluded = event_store.query_user_events(
        firm=FIRM, user_id=7, exclude_names={"task.moved"}, limit=1000, **march
    )
    projected = event_store.query_user_events(
        firm=FIRM, user_id=7, fields=["id", "name", "occurred_at"], limit=5, **march
    )

    assert by_names.items == newest_first([e for e in events if e["name"] in wanted])
    assert by_prefix.items == newest_first(
        [e for e in events if e["name"].startswith("comment.")]
    )
    assert excluded.items == newest_first(
        [e for e in events if e["name"] != "task.moved"]
    )
    assert projected.items == [
        {"id": e["id"], "name": e["name"], "occurred_at": e["occurred_at"]}
        for e in newest_first(events)[:5]
    ]
    assert event_store.query_user_events(firm=FIRM, user_id=7, names=set()).items == []


def test_filtered_pages_are_full_even_when_matches_are_sparse(event_store):
    events = spread(at(2023, 2, 1), 450, dt.timedelta(minutes=3), name="task.updated")
    rare = [events[i] for i in (3, 150, 300, 449)]
    for e in rare:
        e["name"] = "task.completed"
    event_store.put_events(events)

    pages = all_pages(
        event_store.query_user_events,
        firm=FIRM,
        user_id=7,
        names={"task.completed"},
        limit=3,
    )

    assert [len(p) for p in pages] == [3, 1]
    assert [e["id"] for p in pages for e in p] == ids(newest_first(rare))


def test_entity_history_matter_feed_and_events_by_name_use_their_keys(
    event_store, month_of_events
):
    events, others = month_of_events
    firm_events = events + [e for e in others if e["firm"] == FIRM]

    history = event_store.query_entity_history(
        firm=FIRM, subject_type="task", subject_id=2, limit=1000
    )
    feed = event_store.query_matter_feed(firm=FIRM, matter_id=4, limit=1000)
    feed_window = event_store.query_matter_feed(
        firm=FIRM, matter_id=3, start=at(2023, 3, 10), end=at(2023, 3, 20)
    )
    completed = event_store.query_events_by_name(
        firm=FIRM, name="task.completed", limit=1000
    )
    oldest_first = event_store.query_entity_history(
        firm=FIRM, subject_type="task", subject_id=2, limit=1000, newest_first=False
    )

    assert history.items == newest_first([e for e in events if e["subject"]["id"] == 2])
    assert oldest_first.items == list(reversed(history.items))
    assert feed.items == newest_first(
        [e for e in events if e["matter"] and e["matter"]["id"] == 4]
    )
    in_window = [
        e
        for e in events
        if e["matter"]
        and e["matter"]["id"] == 3
        and "2023-03-10" <= e["occurred_at"] < "2023-03-20"
    ]
    assert feed_window.items == newest_first(in_window)
    assert completed.items == newest_first(
        [e for e in firm_events if e["name"] == "task.completed"]
    )


@pytest.mark.parametrize(
    ("query", "kwargs"),
    [
        (store.query_user_events, {"user_id": 7}),
        (store.query_user_events, {"user_id": 7, "name_prefix": "task."}),
        (store.query_user_events, {"user_id": 7, "newest_first": False}),
        (store.query_entity_history, {"subject_type": "task", "subject_id": 1}),
        (store.query_matter_feed, {"matter_id": 3}),
        (store.query_events_by_name, {"name": "comment.added"}),
    ],
)
def test_cursor_pagination_has_no_gaps_or_repeats(
    event_store, month_of_events, query, kwargs
):
    complete = query(firm=FIRM, limit=1000, **kwargs).items

    pages = all_pages(query, firm=FIRM, limit=4, **kwargs)

    assert all(len(p) == 4 for p in pages[:-1])
    assert [e["id"] for p in pages for e in p] == ids(complete)
    assert len(complete) >= 4


def test_a_tampered_or_foreign_cursor_raises_invalid_cursor(
    event_store, month_of_events
):
    page = event_store.query_user_events(firm=FIRM, user_id=7, limit=2)
    cursor = page.next_cursor
    assert cursor
    tampered = cursor[:-3] + ("AAA" if not cursor.endswith("AAA") else "BBB")

    with pytest.raises(store.InvalidCursor, match="altered"):
        event_store.query_user_events(firm=FIRM, user_id=7, cursor=tampered)
    with pytest.raises(store.InvalidCursor, match="another query"):
        event_store.query_user_events(firm=FIRM, user_id=8, cursor=cursor)
    with pytest.raises(store.InvalidCursor):
        event_store.query_user_events(firm=OTHER_FIRM, user_id=7, cursor=cursor)
    with pytest.raises(ValueError, match="cursor"):
        event_store.query_user_events(firm=FIRM, user_id=7, cursor="not-a-cursor")


def test_events_of_another_firm_never_appear(event_store, month_of_events):
    _, others = month_of_events
    foreign = {e["id"] for e in others if e["firm"] == OTHER_FIRM}

    seen = set()
    for items in (
        event_store.query_user_events(firm=FIRM, user_id=7, limit=1000).items,
        event_store.query_entity_history(
            firm=FIRM, subject_type="task", subject_id=1, limit=1000
        ).items,
        event_store.query_matter_feed(firm=FIRM, matter_id=3, limit=1000).items,
        event_store.query_events_by_name(
            firm=FIRM, name="task.completed", limit=1000
        ).items,
    ):
        seen |= {e["id"] for e in items}
        assert {e["firm"] for e in items} == {FIRM}

    assert not seen & foreign
    assert event_store.query_user_events(firm=OTHER_FIRM, user_id=7).items == (
        newest_first([e for e in others if e["firm"] == OTHER_FIRM])
    )
    assert event_store.daily_counts(
        firm=OTHER_FIRM,
        user_id=7,
        start_date=dt.date(2023, 3, 1),
        end_date=dt.date(2023, 3, 31),
        tz="UTC",
    ) == {"2023-03-06": 1, "2023-03-07": 1}


# --- history with children, and the firm's events by date (audit) ------------------


def comment_event(when: dt.datetime, comment_id: int, task_id: int, **kw: Any):
    return make_event(
        when,
        kw.pop("name", "comment.added"),
        subject_type="comment",
        subject_id=comment_id,
        parent={"type": "task", "id": task_id, "label": "My task"},
        **kw,
    )


def test_a_tasks_history_holds_its_comments_events_interleaved_in_time(event_store):
    created = make_event(at(2023, 3, 1, 9), "task.created", subject_id=12)
    first = comment_event(at(2023, 3, 1, 10), 5, 12)
    started = make_event(at(2023, 3, 1, 11), "task.started", subject_id=12)
    edited = comment_event(at(2023, 3, 1, 12), 5, 12, name="comment.edited")
    other = comment_event(at(2023, 3, 1, 13), 6, 12)
    elsewhere = comment_event(at(2023, 3, 1, 14), 7, 99)
    event_store.put_events([created, first, started, edited, other, elsewhere])

    task = event_store.query_entity_history(
        firm=FIRM, subject_type="task", subject_id=12
    )
    own = event_store.query_entity_history(
        firm=FIRM, subject_type="task", subject_id=12, include_children=False
    )
    comment = event_store.query_entity_history(
        firm=FIRM, subject_type="comment", subject_id=5, parent=("task", 12)
    )

    assert task.items == [other, edited, started, first, created]
    assert own.items == [started, created]
    assert comment.items == [edited, first]
    assert comment.items[0]["subject"] == {
        "type": "comment",
        "id": 5,
        "label": "My task",
    }
    # Without its parent a comment's key holds nothing: it lives under its task.
    assert (
        event_store.query_entity_history(
            firm=FIRM, subject_type="comment", subject_id=5
        ).items
        == []
    )


def test_a_parent_without_type_and_id_is_refused(event_store):
    with pytest.raises(ValueError, match="parent"):
        event_store.put_events([make_event(at(2023, 1, 1), parent={"id": 3})])


@pytest.fixture
def firm_quarter(event_store):
    """Events of two users, three matters and the system over Feb-Apr 2023."""
    events = []
    for i in range(90):
        events.append(
            make_event(
                at(2023, 2, 1) + dt.timedelta(hours=21 * i + 3),
                NAMES[i % len(NAMES)],
                actor_id=[7, 8, None][i % 3],
                subject_id=1 + i % 5,
                matter_id=[3, 4, None, 5][i % 4],
            )
        )
    foreign = make_event(at(2023, 3, 10), firm=OTHER_FIRM)
    event_store.put_events([*events, foreign])
    return events


def in_range(events, start, end, keep=lambda e: True):
    lo, hi = isoformat(start), isoformat(end)
    return newest_first([e for e in events if lo <= e["occurred_at"] < hi and keep(e)])


@pytest.mark.parametrize(
    ("kwargs", "keep"),
    [
        ({}, lambda e: True),
        ({"user_id": 8}, lambda e: e["actor"]["id"] == 8),
        ({"user_id": "system"}, lambda e: e["actor"]["id"] is None),
        ({"matter_id": 4}, lambda e: (e["matter"] or {}).get("id") == 4),
        (
            {"user_id": 7, "matter_id": 3},
            lambda e: e["actor"]["id"] == 7 and (e["matter"] or {}).get("id") == 3,
        ),
        ({"name_prefix": "task."}, lambda e: e["name"].startswith("task.")),
        ({"names": ["comment.added"]}, lambda e: e["name"] == "comment.added"),
        (
            {"names": ["task.completed", "user.logged_in"]},
            lambda e: e["name"] in ("task.completed", "user.logged_in"),
        ),
        (
            {"matter_id": 3, "name_prefix": "task.", "exclude_names": ["task.moved"]},
            lambda e: (
                (e["matter"] or {}).get("id") == 3
                and e["name"].startswith("task.")
                and e["name"] != "task.moved"
            ),
        ),
    ],
)
def test_firm_events_by_date_range_match_a_filter_over_all_events(
    event_store, firm_quarter, kwargs, keep
):
    start, end = at(2023, 2, 10, 12), at(2023, 4, 20)

    pages = all_pages(
        event_store.query_firm_events,
        firm=FIRM,
        start=start,
        end=end,
        limit=7,
        **kwargs,
    )

    expected = in_range(firm_quarter, start, end, keep)
    assert [e["id"] for p in pages for e in p] == ids(expected)
    assert all(len(p) == 7 for p in pages[:-1])
    assert expected


def test_firm_events_oldest_first_span_months_without_gaps_or_repeats(
    event_store, firm_quarter
):
    start, end = at(2023, 1, 1), at(2023, 6, 1)

    pages = all_pages(
        event_store.query_firm_events,
        firm=FIRM,
        start=start,
        end=end,
        limit=11,
        newest_first=False,
    )

    got = [e["id"] for p in pages for e in p]
    assert got == ids(list(reversed(in_range(firm_quarter, start, end))))
    assert len(got) == len(firm_quarter)


def test_a_firm_events_cursor_works_only_for_its_query(event_store, firm_quarter):
    span = {"start": at(2023, 2, 1), "end": at(2023, 5, 1)}
    page = event_store.query_firm_events(firm=FIRM, limit=3, **span)

    with pytest.raises(store.InvalidCursor):
        event_store.query_firm_events(
            firm=FIRM, limit=3, cursor=page.next_cursor, name_prefix="task.", **span
        )
    with pytest.raises(store.InvalidCursor):
        event_store.query_firm_events(
            firm=OTHER_FIRM, limit=3, cursor=page.next_cursor, **span
        )
    assert event_store.query_firm_events(
        firm=FIRM, start=span["end"], end=span["start"]
    ) == store.Page([], None)


def test_ensure_tables_upgrades_an_old_layout_table_and_rekeys_its_events(
    event_store, settings
):
    # A table as the first layout made it: no firm index, comments under
    # their own entity key.
    shared = settings.EVENT_STORE
    settings.EVENT_STORE = {**shared, "TABLE_PREFIX": shared["TABLE_PREFIX"] + "old_"}
    names = event_store.table_names()
    spec = event_store._events_table_spec(names.events)
    spec["GlobalSecondaryIndexes"] = [
        i for i in spec["GlobalSecondaryIndexes"] if i["IndexName"] != "gsi4_firm"
    ]
    spec["AttributeDefinitions"] = [
        a for a in spec["AttributeDefinitions"] if "gsi4" not in a["AttributeName"]
    ]
    try:
        event_store._create_table(spec)
        event_store._wait_active(names.events)
        task_event = make_event(at(2023, 3, 1, 9), "task.created", subject_id=12)
        comment = comment_event(at(2023, 3, 1, 10), 5, 12)
        for event in (task_event, comment):
            item = event_store._prepare(event).item
            item.pop("gsi4pk")
            item.pop("gsi4sk")
            subject = event["subject"]
            item["gsi1pk"] = {
                "S": event_store.entity_pk(FIRM, subject["type"], subject["id"])
            }
            event_store._call("put_item", TableName=names.events, Item=item)

        event_store.ensure_tables()

        history = event_store.query_entity_history(
            firm=FIRM, subject_type="task", subject_id=12
        )
        audit = event_store.query_firm_events(
            firm=FIRM, start=at(2023, 3, 1), end=at(2023, 3, 2)
        )
        assert history.items == [comment, task_event]
        assert audit.items == [comment, task_event]
        assert event_store.reindex_events() == 0
    finally:
        event_store.delete_tables()
        settings.EVENT_STORE = shared


def test_ensure_tables_turns_on_ttl_for_expiring_events(event_store):
    ttl = event_store._call(
        "describe_time_to_live", TableName=event_store.table_names().events
    )["TimeToLiveDescription"]

    assert ttl["TimeToLiveStatus"] in ("ENABLED", "ENABLING")
    assert ttl["AttributeName"] == "expires_at"


def test_bad_query_arguments_raise_value_error(event_store):
    with pytest.raises(ValueError, match="aware"):
        event_store.query_user_events(
            firm=FIRM, user_id=7, start=dt.datetime(2023, 1, 1)
        )
    with pytest.raises(ValueError, match="limit"):
        event_store.query_user_events(firm=FIRM, user_id=7, limit=0)
    with pytest.raises(ValueError, match="timezone"):
        event_store.daily_counts(
            firm=FIRM,
            user_id=7,
            start_date=dt.date(2023, 1, 1),
            end_date=dt.date(2023, 1, 2),
            tz="Mars/Olympus",
        )
    with pytest.raises(ValueError, match="after"):
        event_store.daily_counts(
            firm=FIRM,
            user_id=7,
            start_date=dt.date(2023, 1, 2),
            end_date=dt.date(2023, 1, 1),
            tz="UTC",
        )


# --- calendar counts ---------------------------------------------------------------


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
    assert counts == event_store.naive_daily_counts(firm=FIRM, user_id=7, tz=tz, **year)


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
            slow = event_store.naive_daily_counts(
                firm=FIRM, user_id=7, tz=tz, **span, **kwargs
            )
            assert fast == slow, (kwargs, tz)
    assert (
        sum(event_store.daily_counts(firm=FIRM, user_id=7, tz="UTC", **span).values())
        > 0
    )


def test_activity_counts_are_per_quarter_hour_utc_slot(event_store):
    events = [
        make_event(at(2023, 4, 1, 9, 0)),
        make_event(at(2023, 4, 1, 9, 14, 59)),
        make_event(at(2023, 4, 1, 9, 15), "comment.added"),
        make_event(at(2023, 4, 1, 23, 59)),
        make_event(at(2023, 4, 2, 0, 0), "task.viewed"),
    ]
    event_store.put_events(events)

    counts = event_store.activity_counts(
        firm=FIRM, user_id=7, start=at(2023, 4, 1), end=at(2023, 4, 3)
    )
    comments = event_store.activity_counts(
        firm=FIRM,
        user_id=7,
        start=at(2023, 4, 1),
        end=at(2023, 4, 3),
        name_prefix="comment.",
    )

    assert counts == {
        at(2023, 4, 1, 9, 0): 2,
        at(2023, 4, 1, 9, 15): 1,
        at(2023, 4, 1, 23, 45): 1,
    }
    assert comments == {at(2023, 4, 1, 9, 15): 1}


def test_recount_user_repairs_wrong_counters_and_reports_the_difference(
    event_store,
):
    events = spread(at(2023, 8, 1, 8), 40, dt.timedelta(hours=5))
    event_store.put_events(events)
    counts_table = event_store.table_names().counts
    # Lose one day's counters and inflate another's.
    event_store._call(
        "delete_item",
        TableName=counts_table,
        Key={"pk": {"S": f"U#{FIRM}#7"}, "sk": {"S": "D#*#2023-08-02"}},
    )
    event_store._call(
        "update_item",
        TableName=counts_table,
        Key={"pk": {"S": f"U#{FIRM}#7"}, "sk": {"S": "D#*#2023-08-05"}},
        UpdateExpression="ADD t :n",
        ExpressionAttributeValues={":n": {"N": "3"}},
    )
    span = {"start_date": dt.date(2023, 8, 1), "end_date": dt.date(2023, 8, 31)}
    naive = event_store.naive_daily_counts(firm=FIRM, user_id=7, tz="UTC", **span)
    assert event_store.daily_counts(firm=FIRM, user_id=7, tz="UTC", **span) != naive

    dry = event_store.recount_user(firm=FIRM, user_id=7, dry_run=True)
    report = event_store.recount_user(firm=FIRM, user_id=7)
    again = event_store.recount_user(firm=FIRM, user_id=7, since=dt.date(2023, 8, 1))

    assert dry["corrections"] == report["corrections"]
    assert sorted(report["corrections"]) == ["2023-08-02", "2023-08-05"]
    assert report["corrections"]["2023-08-02"]["before"] == {
        "task.*": 4,
        "task.completed": 4,
    }
    assert report["corrections"]["2023-08-02"]["after"] == {
        "*": 4,
        "task.*": 4,
        "task.completed": 4,
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
    ) == event_store.naive_daily_counts(firm=FIRM, user_id=7, tz="UTC", **span)


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


# --- availability ------------------------------------------------------------------


def test_ensure_tables_is_idempotent(event_store):
    event = make_event(at(2023, 1, 1))
    event_store.put_events([event])

    event_store.ensure_tables()

    assert event_store.query_user_events(firm=FIRM, user_id=7).items == [event]


def test_a_stopped_store_raises_store_unavailable_quickly(event_store, settings):
    from events_app.dynamo_local import DynamoDBLocal, DynamoDBLocalError

    server = DynamoDBLocal(max_heap_mb=256)
    try:
        server.start()
    except DynamoDBLocalError as exc:
        pytest.skip(str(exc))
    shared = settings.EVENT_STORE
    settings.EVENT_STORE = {**shared, "ENDPOINT_URL": server.endpoint_url}
    try:
        try:
            event_store.ensure_tables()
            event_store.put_events([make_event(at(2023, 1, 1))])
        finally:
            server.stop()

        started = time.monotonic()
        with pytest.raises(store.StoreUnavailable, match="unreachable"):
            event_store.put_events([make_event(at(2023, 1, 2))])
        with pytest.raises(store.StoreUnavailable):
            event_store.query_user_events(firm=FIRM, user_id=7)
        assert time.monotonic() - started < 6
    finally:
        settings.EVENT_STORE = shared


def test_the_ensure_event_tables_command_can_run_again(event_store):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("ensure_event_tables", stdout=out)
    call_command("ensure_event_tables", "--wait", "1", stdout=out)

    names = event_store.table_names()
    assert out.getvalue().count(f"{names.events}, {names.counts}") == 2
