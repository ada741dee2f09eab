"""seal_events: the scheduled sealing, by hand, with progress, idempotently."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from events_app import store
from tests.events_app.event_helpers import at, envelope_event
from tests.events_app.seals.helpers import day_events, seals_of


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("seal_events", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def stored(world, event_store):
    events = day_events(world, "2023-03-10", 3) + day_events(world, "2023-03-12", 2)
    store.put_events(events)
    return events


def test_it_seals_the_firms_days_and_says_what_it_sealed(world, stored):
    out, err = run("--firm", str(world.firm.pk), "--until", "2023-03-12")

    assert [s.period for s in seals_of(f"f_{world.firm.pk}")] == [
        "2023-03-10",
        "2023-03-11",
        "2023-03-12",
    ]
    assert (
        f"Hartley & Vale (#{world.firm.pk}): sealed 3 periods (2023-03-10 to "
        "2023-03-12), 5 events; sealed through 2023-03-12"
    ) in out
    assert "Sealed 3 periods for 1 firms." in out
    assert f"[1/1] Hartley & Vale (#{world.firm.pk}): 3 sealed" in err
    assert seals_of(f"f_{world.other_firm.pk}") == []


def test_running_it_again_seals_nothing_more(world, stored):
    run("--firm", str(world.firm.pk), "--until", "2023-03-12")
    before = [s.hash for s in seals_of(f"f_{world.firm.pk}")]

    out, _ = run("--firm", str(world.firm.pk), "--until", "2023-03-12")

    assert "nothing to seal; sealed through 2023-03-12" in out
    assert [s.hash for s in seals_of(f"f_{world.firm.pk}")] == before


def test_late_events_are_listed(world, stored):
    run("--firm", str(world.firm.pk), "--until", "2023-03-12")
    late = envelope_event(at(2023, 3, 11, 15), firm_id=world.firm.pk)
    store.put_events([late])

    out, _ = run("--firm", str(world.firm.pk), "--until", "2023-03-13")

    assert "sealed 1 periods (2023-03-13), 1 events, 1 of them late" in out
    assert f"  late event {late['id']}" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--firm", "987654"], "no firm with id 987654"),
        (["--until", "13/03/2023"], "--until takes a date as YYYY-MM-DD"),
    ],
)
def test_bad_input_is_a_clear_error(world, event_store, args, message):
    with pytest.raises(CommandError, match=message):
        run(*args)


def test_an_unreachable_store_is_a_clear_error(world):
    with pytest.raises(CommandError, match="unreachable"):
        run("--firm", str(world.firm.pk))
