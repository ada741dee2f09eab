"""Inclusion proofs for exported events: from the seal that holds each one."""

from __future__ import annotations

import datetime as dt

from events_app import store
from events_app.seals import merkle
from events_app.seals.canonical import event_digest
from events_app.seals.proofs import SealProofs
from events_app.store.client import call
from tests.events_app.event_helpers import at, envelope_event
from tests.events_app.seals import helpers
from tests.events_app.seals.helpers import DAYS

trail = helpers.trail
START = dt.datetime(2023, 3, 9, tzinfo=dt.UTC)
END = dt.datetime(2023, 3, 16, tzinfo=dt.UTC)


def proofs(trail) -> SealProofs:
    return SealProofs(firm=trail.firm, start=START, end=END)


def verifies(event: dict, answer: dict) -> bool:
    proof, seal = answer["proof"], answer["seal"]
    return merkle.verify_inclusion(
        event_digest(event),
        proof["leaf_index"],
        proof["tree_size"],
        [bytes.fromhex(node) for node in proof["audit_path"]],
        bytes.fromhex(seal["root"]),
    )


def test_every_sealed_event_newest_first_gets_a_proof_of_its_own_seal(trail):
    source = proofs(trail)
    sealed = [e for day in reversed(DAYS) for e in reversed(trail.on(day))]

    for event in sealed:
        answer = source.proof_for(event)
        assert answer["seal"]["period"] == helpers.london_day(event["occurred_at"])
        assert verifies(event, answer)


def test_what_no_seal_holds_says_why(trail, world):
    forged = envelope_event(at(2023, 3, 13, 9), firm_id=world.firm.pk)
    fresh = envelope_event(at(2023, 3, 15, 9), firm_id=world.firm.pk)
    viewed = next(e for e in trail.events if e["name"] == "task.viewed")
    store.put_events([forged, fresh])
    source = proofs(trail)

    assert source.proof_for(forged)["unsealed"] == "no seal holds this event"
    assert source.proof_for(fresh)["unsealed"] == (
        "not sealed yet: its period is still open"
    )
    assert source.proof_for(viewed)["unsealed"] == "task.viewed events are never sealed"


def test_a_changed_event_gets_a_proof_that_fails(trail):
    event = trail.on("2023-03-11")[0]
    changed = {**event, "subject": {**event["subject"], "label": "Other"}}

    answer = proofs(trail).proof_for(changed)

    assert answer["seal"]["period"] == "2023-03-11"
    assert not verifies(changed, answer)


def test_a_seal_whose_leaf_list_was_altered_gives_no_proofs(trail):
    seal = store.get_seal(firm=trail.firm, period="2023-03-13")
    leaves = store.seal_leaves(seal)
    leaves[0] = (leaves[0][0], "0" * 64)
    call(
        "put_item",
        TableName=store.table_names().seals,
        Item={
            "pk": {"S": f"L#{trail.firm}#{seal.leaves_key}"},
            "sk": {"S": "00000"},
            "leaves": {"S": "".join(f"{sk} {d}\n" for sk, d in leaves)},
        },
    )

    answer = proofs(trail).proof_for(trail.on("2023-03-13")[2])

    assert answer["unsealed"] == (
        "its seal (2023-03-13) is damaged; run verify_audit_trail"
    )
