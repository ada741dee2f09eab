"""put_events: each event once, with its counters, whatever the batch."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from events_app.store.client import call
from tests.events_app.store.helpers import (
    FIRM,
    NAMES,
    at,
    ids,
    make_event,
    spread,
)

pytestmark = pytest.mark.services


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

    assert first.written == [event["id"]] and first.duplicates == []
    assert again.written == [] and again.duplicates == [event["id"]]
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
        return call(
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
