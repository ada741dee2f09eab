"""Sealing: one seal per closed local day, chained, late events, races, workers."""

from __future__ import annotations

import datetime as dt
import itertools
import re
import threading

import pytest
from django.utils import timezone

from events_app import store
from events_app.seals import chain, merkle, sealing
from events_app.seals.canonical import canonical_json, event_digest, seal_hash
from events_app.seals.periods import Period
from events_app.store.client import paginate
from hivelight.celery import app as celery_app
from tests.events_app.event_helpers import at, envelope_event
from tests.events_app.seals import helpers
from tests.events_app.seals.helpers import (
    DAYS,
    LAST_DAY,
    check,
    day_events,
    seal,
    seals_of,
)
from tests.fixtures.factories import make_firm
from tests.fixtures.worker import CeleryWorker, celery_eager

trail = helpers.trail


def test_each_closed_day_gets_one_seal_over_its_events_in_time_order(trail):
    seals = seals_of(trail.firm)

    assert [s.period for s in seals] == DAYS
    for seal_ in seals:
        events = trail.on(seal_.period)
        digests = [event_digest(e) for e in events]
        assert seal_.body["size"] == len(events)
        assert seal_.body["root"] == merkle.root(digests).hex()
        assert [sk for sk, _ in store.seal_leaves(seal_)] == [
            chain.sk_of(e) for e in events
        ]
        assert seal_.hash == seal_hash(seal_.body)
        assert seal_.body["tz"] == "Europe/London"
        assert seal_.body["late"] == 0


def test_seals_chain_from_genesis_and_tile_time_without_gaps(trail):
    seals = seals_of(trail.firm)

    assert seals[0].body["prev"] == chain.GENESIS
    assert [s.body["seq"] for s in seals] == [1, 2, 3, 4, 5]
    for before, after in itertools.pairwise(seals):
        assert after.body["prev"] == before.hash
        assert after.body["start"] == before.body["end"]
    assert seals[0].body["start"] == "2023-03-10T00:00:00.000000Z"


def test_a_quiet_day_is_sealed_empty_and_page_views_never_are(trail):
    quiet = store.get_seal(firm=trail.firm, period="2023-03-12")
    busy = store.get_seal(firm=trail.firm, period="2023-03-11")

    assert quiet.body["size"] == 0
    assert quiet.body["root"] == merkle.EMPTY_ROOT.hex()
    viewed = {e["id"] for e in trail.events if e["name"] == "task.viewed"}
    assert viewed
    sealed = {sk.partition("#")[2] for sk, _ in store.seal_leaves(busy)}
    assert not sealed & viewed
    assert busy.body["size"] == len(trail.on("2023-03-11"))


def test_sealing_again_changes_nothing(trail):
    before = [(s.hash, s.body) for s in seals_of(trail.firm)]

    run = seal(trail.world)

    assert run.sealed == []
    assert run.sealed_through == "2023-03-14"
    assert [(s.hash, s.body) for s in seals_of(trail.firm)] == before


def test_another_firm_has_its_own_chain(trail, world):
    other = f"f_{world.other_firm.pk}"

    sealing.seal_firm(firm_id=world.other_firm.pk, until=dt.date(2023, 3, 14))

    assert [s.period for s in seals_of(other)] == DAYS[1:]
    assert seals_of(other)[0].body["prev"] == chain.GENESIS
    assert seals_of(other)[0].body["size"] == 1


def test_a_day_is_sealed_only_a_margin_after_it_ends_in_the_firms_timezone(
    world, event_store, settings
):
    settings.AUDIT_SEAL_MARGIN_MINUTES = 90
    world.firm.timezone = "America/New_York"
    world.firm.save()
    # 02:00 UTC on the 11th is still the 10th in New York (UTC-5).
    late_evening = envelope_event(at(2023, 3, 11, 2), firm_id=world.firm.pk)
    store.put_events([late_evening])
    day_ends = dt.datetime(2023, 3, 11, 5, tzinfo=dt.UTC)

    early = sealing.seal_firm(
        firm_id=world.firm.pk, now=day_ends + dt.timedelta(minutes=89)
    )
    assert early.sealed == []

    run = sealing.seal_firm(
        firm_id=world.firm.pk, now=day_ends + dt.timedelta(minutes=90)
    )

    assert run.sealed == ["2023-03-10"]
    (only,) = seals_of(f"f_{world.firm.pk}")
    assert only.body["start"] == "2023-03-10T05:00:00.000000Z"
    assert only.body["end"] == "2023-03-11T05:00:00.000000Z"
    assert only.body["size"] == 1


def test_until_stops_at_that_local_day(world, event_store):
    store.put_events(
        day_events(world, "2023-03-10", 2) + day_events(world, "2023-03-13", 2)
    )

    run = seal(world, until=dt.date(2023, 3, 11))

    assert run.sealed == ["2023-03-10", "2023-03-11"]
    assert seal(world, until=dt.date(2023, 3, 13)).sealed == [
        "2023-03-12",
        "2023-03-13",
    ]


def test_a_chain_over_a_dst_change_has_a_23_hour_day(world, event_store):
    store.put_events(day_events(world, "2023-03-25", 1))

    seal(world, until=dt.date(2023, 3, 27))

    spring = store.get_seal(firm=f"f_{world.firm.pk}", period="2023-03-26")
    assert spring.body["start"] == "2023-03-26T00:00:00.000000Z"
    assert spring.body["end"] == "2023-03-26T23:00:00.000000Z"


def test_a_new_timezone_takes_effect_without_a_gap_or_an_overlap(world, event_store):
    store.put_events(day_events(world, "2023-03-10", 1))
    seal(world, until=dt.date(2023, 3, 10))
    world.firm.timezone = "Asia/Tokyo"
    world.firm.save()

    seal(world, until=dt.date(2023, 3, 13))

    seals = seals_of(f"f_{world.firm.pk}")
    assert [s.period for s in seals] == [
        "2023-03-10",
        "2023-03-11",
        "2023-03-12",
        "2023-03-13",
    ]
    # London's 10th ends at 00:00 UTC, 09:00 in Tokyo: the rest of Tokyo's 11th.
    assert seals[1].body["start"] == "2023-03-11T00:00:00.000000Z"
    assert seals[1].body["end"] == "2023-03-11T15:00:00.000000Z"
    assert seals[1].body["tz"] == "Asia/Tokyo"
    assert check(f"f_{world.firm.pk}").ok


def test_an_event_stored_after_its_day_was_sealed_goes_into_the_next_seal_as_late(
    trail, world
):
    late = envelope_event(at(2023, 3, 13, 12), firm_id=world.firm.pk, actor=world.bob)
    store.put_events([late, *day_events(world, "2023-03-15", 2)])

    run = seal(world, until=dt.date(2023, 3, 15))

    assert run.sealed == ["2023-03-15"]
    assert run.late == [late["id"]]
    seal_ = store.get_seal(firm=trail.firm, period="2023-03-15")
    assert seal_.body["late"] == 1
    assert seal_.body["size"] == 3
    first_sk, first_leaf = store.seal_leaves(seal_)[0]
    assert first_sk == chain.sk_of(late) < seal_.body["start"]
    assert first_leaf == event_digest(late).hex()
    report = check(trail.firm)
    assert report.ok
    assert [p.late for p in report.periods if p.late] == [[late["id"]]]


def test_an_event_later_than_the_look_back_is_left_to_verification(
    trail, world, settings
):
    settings.AUDIT_SEAL_LATE_DAYS = 1
    forgotten = envelope_event(at(2023, 3, 11, 12), firm_id=world.firm.pk)
    store.put_events([forgotten])

    run = seal(world, until=dt.date(2023, 3, 15))

    assert run.late == []
    assert helpers.findings(check(trail.firm)) == {
        "2023-03-11": {"added": [forgotten["id"]]}
    }


def test_a_busy_day_is_split_over_several_items(world, event_store, monkeypatch):
    monkeypatch.setattr(store.seals, "LEAVES_PER_ITEM", 4)
    events = day_events(world, "2023-03-10", 11)
    store.put_events(events)

    seal(world, until=dt.date(2023, 3, 10))

    (seal_,) = seals_of(f"f_{world.firm.pk}")
    assert seal_.chunks == 3
    assert len(store.seal_leaves(seal_)) == 11
    assert check(f"f_{world.firm.pk}").ok


def test_nothing_is_sealed_on_top_of_an_altered_newest_seal(trail, world):
    item = helpers.seal_item(trail.firm, "2023-03-14")
    body = helpers.seal_body(item)
    item["body"] = {"S": canonical_json({**body, "size": 99}).decode()}
    helpers.put_seal_item(item)
    store.put_events(day_events(world, "2023-03-15", 1))

    with pytest.raises(sealing.ChainDamaged, match="2023-03-14 was altered"):
        seal(world, until=dt.date(2023, 3, 15))

    assert store.get_seal(firm=trail.firm, period="2023-03-15") is None


def test_nothing_is_sealed_after_a_seal_that_does_not_link_to_the_one_before(
    trail, world
):
    helpers.delete_seal_item(trail.firm, "2023-03-13")
    store.put_events(day_events(world, "2023-03-15", 1))

    with pytest.raises(sealing.ChainDamaged, match="chain break before 2023-03-14"):
        seal(world, until=dt.date(2023, 3, 15))


def test_a_forged_newest_seal_far_in_the_future_stops_sealing_loudly(trail, world):
    """A seal that links correctly but claims a period running to 2099 would
    otherwise stop sealing silently."""
    head = store.latest_seal(firm=trail.firm)
    forged = chain.make_body(
        firm=trail.firm,
        seq=6,
        period=Period(
            dt.date(2099, 1, 1),
            dt.datetime(2023, 3, 15, tzinfo=dt.UTC),
            dt.datetime(2099, 1, 2, tzinfo=dt.UTC),
        ),
        tz="UTC",
        leaves=[],
        prev=head.hash,
        sealed_at=dt.datetime(2023, 3, 16, tzinfo=dt.UTC),
    )
    store.put_seal(
        firm=trail.firm,
        period="2099-01-01",
        body_text=canonical_json(forged).decode(),
        hash=seal_hash(forged),
        leaves=[],
    )

    with pytest.raises(sealing.ChainDamaged, match="ends in the future"):
        seal(world, until=dt.date(2023, 3, 20))


def test_a_firm_with_no_events_starts_its_chain_on_the_day_it_was_created(
    db, event_store
):
    firm = make_firm("Fresh LLP", timezone="UTC")
    created = firm.created_at.astimezone(dt.UTC).date()
    three_days_on = dt.datetime.combine(created, dt.time(2), dt.UTC) + dt.timedelta(3)

    run = sealing.seal_firm(firm_id=firm.pk, now=three_days_on)

    assert run.sealed == [(created + dt.timedelta(i)).isoformat() for i in range(3)]
    assert all(s.body["size"] == 0 for s in seals_of(f"f_{firm.pk}"))


# --- two writers at once -----------------------------------------------------------


def test_two_sealers_racing_make_one_seal_per_period(world, event_store, monkeypatch):
    store.put_events([e for day in DAYS for e in day_events(world, day, 3)])
    real_put = store.put_seal
    # Both reach the first period's conditional put before either makes it.
    barrier = threading.Barrier(2, timeout=20)
    first_puts = threading.local()

    def put_after_the_other(**kwargs):
        if not getattr(first_puts, "done", False):
            first_puts.done = True
            barrier.wait()
        return real_put(**kwargs)

    monkeypatch.setattr(store, "put_seal", put_after_the_other)
    runs: list[sealing.SealRun] = []
    errors: list[BaseException] = []
    firm = f"f_{world.firm.pk}"

    def run() -> None:
        # Threads have database connections of their own, which cannot see
        # this test's uncommitted firm: seal by tenant key and timezone.
        try:
            runs.append(
                sealing.seal_trail(firm=firm, tz="Europe/London", until=LAST_DAY)
            )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert [s.period for s in seals_of(firm)] == DAYS
    assert sorted(p for r in runs for p in r.sealed) == DAYS
    assert sum(r.lost_races for r in runs) >= 1
    assert check(firm).ok
    # The loser's leaf items were removed: one leaf list per non-empty seal.
    leaf_lists = {
        item["pk"]["S"]
        for item in paginate("scan", TableName=store.table_names().seals)
        if item["pk"]["S"].startswith("L#")
    }
    assert len(leaf_lists) == len(DAYS)


@pytest.fixture
def second_worker(celery_worker, tmp_path):
    """Another solo worker on the same queue, database and store."""
    worker = CeleryWorker(
        app=celery_app,
        name=f"second-{celery_worker.name}",
        log_path=tmp_path / "second-worker.log",
    )
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()


SUCCEEDED = re.compile(r"seal_firm_audit_trail\[[^\]]+\] succeeded in [\d.]+s: (\d+)")


@pytest.mark.services
def test_two_real_workers_sealing_one_firm_make_one_seal_per_period(
    world, event_store, celery_worker, second_worker
):
    today = timezone.now().date()
    days = [(today - dt.timedelta(days=n)).isoformat() for n in range(6, 1, -1)]
    store.put_events([e for day in days for e in day_events(world, day, 20)])

    for _ in range(2):
        celery_app.signature("events_app.tasks.seal_firm_audit_trail").delay(
            world.firm.pk
        )

    def both_done() -> list[int] | None:
        counts = [
            int(n)
            for w in (celery_worker, second_worker)
            for n in SUCCEEDED.findall(w.log())
        ]
        return counts if len(counts) == 2 else None

    counts = celery_worker.wait_for(both_done, timeout=60, message="both sealing tasks")
    firm = f"f_{world.firm.pk}"
    seals = seals_of(firm)
    periods = [s.period for s in seals]
    assert len(periods) == len(set(periods))
    assert periods[: len(days)] == days
    # Every period was sealed by exactly one of the two tasks.
    assert sum(counts) == len(seals)
    assert check(firm).ok


def test_the_scheduled_job_seals_every_firm(world, event_store):
    # Three days ago is closed in London whatever the time of day now.
    day = (timezone.now().date() - dt.timedelta(days=3)).isoformat()
    store.put_events(
        day_events(world, day, 2)
        + [e | {"firm": f"f_{world.other_firm.pk}"} for e in day_events(world, day, 1)]
    )

    with celery_eager(True):
        queued = celery_app.signature("events_app.tasks.seal_audit_trails").apply()

    assert queued.result == 2
    for firm in (world.firm, world.other_firm):
        assert seals_of(f"f_{firm.pk}"), firm
    assert seals_of(f"f_{world.firm.pk}")[0].body["size"] == 2
