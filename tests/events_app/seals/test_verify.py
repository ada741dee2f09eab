"""Verification: each kind of tampering, made with boto3, is reported precisely."""

from __future__ import annotations

import datetime as dt

from events_app import store
from events_app.seals import chain, sealing
from events_app.seals.canonical import canonical_json, seal_hash
from events_app.store.codec import to_av
from tests.events_app.event_helpers import at, envelope_event
from tests.events_app.seals import helpers
from tests.events_app.seals.helpers import (
    DAYS,
    check,
    delete_event,
    delete_seal_item,
    findings,
    put_seal_item,
    seal_body,
    seal_item,
    set_attribute,
)

trail = helpers.trail


def published(firm: str) -> list[dict]:
    """The chain as a third party would hold it (the download)."""
    return [chain.record(s.body, s.hash) for s in helpers.seals_of(firm)]


def test_an_untouched_trail_verifies_clean(trail):
    report = check(trail.firm)

    assert report.ok
    assert report.findings == 0
    assert [p.period for p in report.periods] == DAYS
    assert [p.size for p in report.periods] == [len(trail.on(d)) for d in DAYS]
    assert report.sealed_through == "2023-03-14"


def test_one_changed_attribute_of_one_event_is_reported_as_that_event(trail):
    victim = trail.on("2023-03-13")[2]
    set_attribute(victim, "subject", {**victim["subject"], "label": "Nothing to see"})

    report = check(trail.firm)

    assert findings(report) == {"2023-03-13": {"changed": [victim["id"]]}}


def test_a_changed_json_attribute_is_reported_too(trail):
    victim = trail.on("2023-03-10")[0]
    set_attribute(victim, "changes", '{"status": ["TODO", "DONE"]}')

    assert findings(check(trail.firm)) == {"2023-03-10": {"changed": [victim["id"]]}}


def test_a_deleted_event_is_reported_removed(trail):
    victim = trail.on("2023-03-11")[4]
    delete_event(victim)

    assert findings(check(trail.firm)) == {"2023-03-11": {"removed": [victim["id"]]}}


def test_a_forged_event_in_a_sealed_day_is_reported_added(trail, world):
    forged = envelope_event(
        at(2023, 3, 13, 11, 11),
        "task.completed",
        firm_id=world.firm.pk,
        actor=world.bob,
    )
    store.put_events([forged])

    assert findings(check(trail.firm)) == {"2023-03-13": {"added": [forged["id"]]}}


def test_an_event_moved_to_another_day_is_removed_from_one_and_added_to_the_other(
    trail,
):
    victim = trail.on("2023-03-10")[1]
    delete_event(victim)
    moved = {**victim, "occurred_at": "2023-03-13T08:00:00.000000Z"}
    store.put_events([moved])

    report = check(trail.firm)

    assert findings(report) == {
        "2023-03-10": {"removed": [victim["id"]]},
        "2023-03-13": {"added": [victim["id"]]},
    }
    (day13,) = [p for p in report.periods if p.period == "2023-03-13"]
    assert day13.notes[victim["id"]].startswith("sealed in 2023-03-10")


def test_renaming_an_event_to_a_page_view_does_not_hide_it(trail):
    victim = trail.on("2023-03-14")[0]
    set_attribute(victim, "ev_name", "task.viewed")

    assert findings(check(trail.firm)) == {"2023-03-14": {"changed": [victim["id"]]}}


def test_page_views_are_not_sealed_so_removing_them_is_no_finding(trail):
    for view in [e for e in trail.events if e["name"] == "task.viewed"]:
        delete_event(view)

    assert check(trail.firm).ok


def test_two_periods_swapped_are_reported_as_moved_seals_and_chain_breaks(trail):
    eleventh = seal_item(trail.firm, "2023-03-11")
    thirteenth = seal_item(trail.firm, "2023-03-13")
    put_seal_item({**thirteenth, "sk": eleventh["sk"]})
    put_seal_item({**eleventh, "sk": thirteenth["sk"]})

    found = findings(check(trail.firm))

    assert set(found) == {"2023-03-11", "2023-03-12", "2023-03-13", "2023-03-14"}
    assert all(set(f) == {"problems"} for f in found.values())
    assert (
        "seal stored as 2023-03-11 is the seal of 2023-03-13 (seals moved or swapped)"
        in found["2023-03-11"]["problems"]
    )
    assert found["2023-03-12"]["problems"][:2] == [
        f"chain break before 2023-03-12: it follows a seal hashing to "
        f"{eleventh['hash']['S']}, but the seal before it (2023-03-11) "
        f"hashes to {thirteenth['hash']['S']}",
        "chain break before 2023-03-12: seal #3 follows seal #4",
    ]


def test_a_deleted_seal_breaks_the_chain_at_the_next_one(trail):
    delete_seal_item(trail.firm, "2023-03-12")

    found = findings(check(trail.firm))

    assert list(found) == ["2023-03-13"]
    problems = found["2023-03-13"]["problems"]
    assert any("seal #4 follows seal #2" in p for p in problems)
    assert any(
        "it starts at 2023-03-13T00:00:00.000000Z, the seal before it ends at "
        "2023-03-12T00:00:00.000000Z" in p
        for p in problems
    )


def test_a_seal_overwritten_by_hand_is_reported_altered(trail):
    item = seal_item(trail.firm, "2023-03-11")
    body = seal_body(item)
    body["root"] = "0" * 64
    put_seal_item({**item, "body": {"S": canonical_json(body).decode()}})

    found = findings(check(trail.firm))

    assert list(found) == ["2023-03-11"]
    assert found["2023-03-11"]["problems"][0].startswith(
        "seal of 2023-03-11 was altered"
    )


def test_a_seal_recomputed_after_tampering_breaks_the_chain_after_it(trail, world):
    """The careful forger: change an event, then re-seal its day consistently."""
    kept = published(trail.firm)
    victim = trail.on("2023-03-11")[0]
    set_attribute(victim, "actor", {"id": world.carol.pk, "name": "Carol King"})
    old = seal_item(trail.firm, "2023-03-11")
    old_body = seal_body(old)
    events = sorted(
        sealing.events_between(
            trail.firm,
            dt.datetime(2023, 3, 11, tzinfo=dt.UTC),
            dt.datetime(2023, 3, 12, tzinfo=dt.UTC),
        ),
        key=chain.sk_of,
    )
    leaves = [chain.leaf_of(e) for e in events]
    body = {
        **old_body,
        "root": chain.root_hex(leaves),
        "index": chain.index_hash(leaves),
    }
    delete_seal_item(trail.firm, "2023-03-11")
    store.put_seal(
        firm=trail.firm,
        period="2023-03-11",
        body_text=canonical_json(body).decode(),
        hash=seal_hash(body),
        leaves=leaves,
    )

    from_store = findings(check(trail.firm))
    against_published = findings(check(trail.firm, published=kept))

    assert list(from_store) == ["2023-03-12"]
    (problem,) = from_store["2023-03-12"]["problems"]
    assert problem.startswith("chain break before 2023-03-12")
    assert old["hash"]["S"] in problem
    assert against_published["2023-03-11"]["problems"] == [
        f"seal of 2023-03-11 differs from the published chain: stored "
        f"{seal_hash(body)}, published {old['hash']['S']}"
    ]


def test_truncation_is_caught_only_with_a_published_chain(trail):
    kept = published(trail.firm)
    for event in trail.on("2023-03-14", sealed=False):
        delete_event(event)
    delete_seal_item(trail.firm, "2023-03-14")

    assert check(trail.firm).ok
    report = check(trail.firm, published=kept)
    assert report.problems == [
        f"seal #5 of 2023-03-14 is in the published chain (hash {kept[-1]['hash']}) "
        "but not in the store"
    ]


def test_an_altered_leaf_list_is_reported(trail):
    from events_app.store.client import call

    seal_ = store.get_seal(firm=trail.firm, period="2023-03-13")
    leaves = store.seal_leaves(seal_)
    leaves[0], leaves[1] = leaves[1], leaves[0]
    call(
        "put_item",
        TableName=store.table_names().seals,
        Item={
            "pk": {"S": f"L#{trail.firm}#{seal_.leaves_key}"},
            "sk": {"S": "00000"},
            "leaves": to_av("".join(f"{sk} {d}\n" for sk, d in leaves)),
        },
    )

    found = findings(check(trail.firm))

    assert found == {
        "2023-03-13": {
            "problems": [
                "leaf list of 2023-03-13 was altered: 5 leaves stored, 5 sealed"
            ]
        }
    }


def test_a_range_checks_its_link_to_the_seal_before_it(trail):
    delete_seal_item(trail.firm, "2023-03-11")

    report = check(trail.firm, first=dt.date(2023, 3, 12), last=dt.date(2023, 3, 13))

    assert [p.period for p in report.periods] == ["2023-03-12", "2023-03-13"]
    assert list(findings(report)) == ["2023-03-12"]


def test_a_range_with_no_seal_is_a_finding(trail):
    report = check(trail.firm, first=dt.date(2024, 1, 1))

    assert not report.ok
    assert report.problems[0].startswith("no seal covers 2024-01-01")
