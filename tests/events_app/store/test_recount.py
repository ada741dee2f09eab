"""rebuild_activity_counts: counters recounted from the events, differences reported."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io

import pytest
from django.core.management import CommandError, call_command

from bench.naive_counts import naive_daily_counts
from events_app import names
from events_app.store import counters as store_counters
from events_app.store.client import call
from tests.events_app.event_helpers import at, envelope_event

MARCH = {"start_date": dt.date(2023, 3, 1), "end_date": dt.date(2023, 3, 31)}


@pytest.fixture
def stored(world, event_store):
    """A week of events of Bob and Alice, and the system's."""
    events = []
    for i in range(60):
        actor = [world.bob, world.alice, None][i % 3]
        events.append(
            envelope_event(
                at(2023, 3, 20, 8) + dt.timedelta(hours=2 * i),
                ["task.completed", "comment.added", "task.moved"][i % 3 - 1],
                firm_id=world.firm.pk,
                actor=actor,
            )
        )
    event_store.put_events(events)
    return events


def counts(event_store, world, user, **kw):
    return event_store.daily_counts(
        firm=f"f_{world.firm.pk}", user_id=user.pk, tz="UTC", **MARCH, **kw
    )


def naive(event_store, world, user, **kw):
    return naive_daily_counts(
        firm=f"f_{world.firm.pk}", user_id=user.pk, tz="UTC", **MARCH, **kw
    )


def spoil(event_store, world, user, day: str, series: str = "*", by: int = 5) -> None:
    """Add `by` to a day's counter behind the store's back (a lost or extra write)."""
    call(
        "update_item",
        TableName=event_store.table_names().counts,
        Key={
            "pk": {"S": f"U#f_{world.firm.pk}#{user.pk}"},
            "sk": {"S": f"D#{series}#{day}"},
        },
        UpdateExpression="ADD t :n, h10 :n, b2 :n",
        ExpressionAttributeValues={":n": {"N": str(by)}},
    )


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("rebuild_activity_counts", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_wrong_counters_are_corrected_and_reported(world, event_store, stored):
    right = counts(event_store, world, world.bob)
    spoil(event_store, world, world.bob, "2023-03-21")
    spoil(event_store, world, world.alice, "2023-03-24", series="comment.*", by=-1)
    assert counts(event_store, world, world.bob) != right

    out, err = run()

    assert (
        counts(event_store, world, world.bob)
        == right
        == naive(event_store, world, world.bob)
    )
    assert counts(event_store, world, world.alice, name_prefix="comment.") == naive(
        event_store, world, world.alice, name_prefix="comment."
    )
    assert f"Bob Stone (#{world.bob.pk}): corrected 1 day" in out
    assert "2023-03-21 (UTC): * " in out
    assert "Alice Hartley" in out and "comment.* " in out
    assert "corrected 2 days for 2 of them" in out
    assert "checked" in err  # progress, one line per person off a terminal

    again, _ = run()
    assert "corrected 0 days for 0 of them" in again


def test_user_since_and_dry_run_narrow_the_rebuild(world, event_store, stored):
    spoil(event_store, world, world.bob, "2023-03-21")
    spoil(event_store, world, world.bob, "2023-03-25")
    spoil(event_store, world, world.alice, "2023-03-25")

    dry, _ = run("--user", str(world.bob.pk), "--dry-run")
    assert "would correct 2 days" in dry
    since, _ = run("--user", str(world.bob.pk), "--since", "2023-03-24")
    assert "corrected 1 day for 1 of them" in since

    bob = counts(event_store, world, world.bob)
    assert bob["2023-03-25"] == naive(event_store, world, world.bob)["2023-03-25"]
    assert bob["2023-03-21"] == naive(event_store, world, world.bob)["2023-03-21"] + 5
    alice = counts(event_store, world, world.alice)
    assert alice != naive(event_store, world, world.alice)  # not asked for


def test_an_unknown_user_is_an_error(world, event_store):
    with pytest.raises(CommandError, match="no user with id 999999"):
        run("--user", "999999")


def test_an_unreachable_store_is_a_command_error(world):
    with pytest.raises(CommandError, match="unreachable"):
        run("--user", str(world.bob.pk))


def test_a_matters_counters_are_rebuilt_by_the_command(world, event_store):
    events = [
        envelope_event(
            at(2023, 3, 20, 8) + dt.timedelta(hours=3 * i),
            ["task.completed", "comment.added", "matter.updated"][i % 3],
            firm_id=world.firm.pk,
            actor=world.bob,
            matter=world.matter,
        )
        for i in range(30)
    ]
    event_store.put_events(events)
    matter = {"firm": f"f_{world.firm.pk}", "matter_id": world.matter.pk, "tz": "UTC"}
    right = event_store.matter_daily_counts(**matter, **MARCH)
    call(
        "update_item",
        TableName=event_store.table_names().counts,
        Key={
            "pk": {"S": f"M#f_{world.firm.pk}#{world.matter.pk}"},
            "sk": {"S": "D#~all#2023-03-21"},
        },
        UpdateExpression="ADD t :n, h10 :n, b2 :n",
        ExpressionAttributeValues={":n": {"N": "4"}},
    )
    assert event_store.matter_daily_counts(**matter, **MARCH) != right

    out, _ = run("--matter", str(world.matter.pk))

    assert event_store.matter_daily_counts(**matter, **MARCH) == right
    assert f"matter {world.matter.number} {world.matter.name}" in out
    assert "2023-03-21 (UTC): ~all 12 -> 8" in out
    assert "corrected 1 day for 1 of them" in out
    everyone, _ = run()
    assert "corrected 0 days for 0 of them" in everyone


def test_an_unknown_matter_is_an_error(world, event_store):
    with pytest.raises(CommandError, match="no matter with id 999999"):
        run("--matter", "999999")


def test_if_changed_recounts_only_after_the_filters_change(
    world, event_store, stored, monkeypatch
):
    event_store.put_events(
        [
            envelope_event(
                at(2023, 3, 22, 9),
                "task.started",
                firm_id=world.firm.pk,
                actor=world.bob,
            )
        ]
    )
    first, _ = run("--if-changed")
    again, _ = run("--if-changed")
    assert "Counters rebuilt under layout" in first
    assert "no recount" in again

    # "Completed and started" becomes "completed only": past days follow.
    changed = dict(names.CALENDAR_FILTERS)
    changed["progress"] = dataclasses.replace(
        changed["progress"], names=("task.completed",), label="Completed"
    )
    monkeypatch.setattr(names, "CALENDAR_FILTERS", changed)
    monkeypatch.setattr(store_counters, "CALENDAR_FILTERS", changed)
    completed = naive(event_store, world, world.bob, names={"task.completed"})
    stale = counts(event_store, world, world.bob, calendar_filter="progress")
    assert stale["2023-03-22"] == completed.get("2023-03-22", 0) + 1  # the start
    after_change, _ = run("--if-changed")

    assert "Counters rebuilt under layout" in after_change
    assert "no recount" in run("--if-changed")[0]
    assert "2023-03-22 (UTC): ~progress" in after_change
    assert (
        counts(event_store, world, world.bob, calendar_filter="progress") == completed
    )
    with pytest.raises(CommandError, match="alone"):
        run("--if-changed", "--user", str(world.bob.pk))
