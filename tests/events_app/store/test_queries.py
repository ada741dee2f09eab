"""Reading events back: a person's, an entity's, a matter's, a firm's."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

import pytest

from events_app import store
from events_app.envelope import isoformat
from events_app.store import codec, tables, writes
from events_app.store.client import call
from tests.events_app.store.helpers import (
    FIRM,
    NAMES,
    OTHER_FIRM,
    UTC,
    all_pages,
    at,
    ids,
    make_event,
    spread,
)

pytestmark = pytest.mark.services


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
    with pytest.raises(store.InvalidCursor, match="cursor"):
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
    spec = tables._events_table_spec(names.events)
    spec["GlobalSecondaryIndexes"] = [
        i for i in spec["GlobalSecondaryIndexes"] if i["IndexName"] != "gsi4_firm"
    ]
    spec["AttributeDefinitions"] = [
        a for a in spec["AttributeDefinitions"] if "gsi4" not in a["AttributeName"]
    ]
    try:
        tables._create_table(spec)
        tables._wait_active(names.events)
        task_event = make_event(at(2023, 3, 1, 9), "task.created", subject_id=12)
        comment = comment_event(at(2023, 3, 1, 10), 5, 12)
        for event in (task_event, comment):
            item = writes._prepare(event).item
            item.pop("gsi4pk")
            item.pop("gsi4sk")
            subject = event["subject"]
            item["gsi1pk"] = {
                "S": codec.entity_pk(FIRM, subject["type"], subject["id"])
            }
            call("put_item", TableName=names.events, Item=item)

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
    ttl = call("describe_time_to_live", TableName=event_store.table_names().events)[
        "TimeToLiveDescription"
    ]

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
