"""A seal's body, its checks and links; and, for random sets of events, every
inclusion proof verifies against the seal and any one-byte change fails."""

from __future__ import annotations

import datetime as dt
import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from events_app import names
from events_app.envelope import isoformat, uuid7
from events_app.seals import chain, merkle
from events_app.seals.canonical import canonical_json, seal_hash
from events_app.seals.periods import first_period

PERIOD = first_period(dt.date(2023, 3, 10), "Europe/London")
SEALED_AT = dt.datetime(2023, 3, 11, 1, tzinfo=dt.UTC)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def events(draw: st.DrawFn) -> dict:
    """An envelope as the store returns it, anywhere in the period."""
    moment = PERIOD.start + dt.timedelta(
        microseconds=draw(st.integers(0, 86_400_000_000 - 1))
    )
    actor = draw(st.none() | st.integers(1, 10_000))
    return {
        "id": str(draw(st.uuids())),
        "name": draw(st.sampled_from(sorted(names.ALL - names.EXPIRING))),
        "version": 1,
        "occurred_at": isoformat(moment),
        "firm": "f_1",
        "actor": {"id": actor, "name": draw(st.text(max_size=20)) or "system"},
        "subject": {
            "type": draw(st.sampled_from(["task", "comment", "milestone", "user"])),
            "id": draw(st.integers(1, 10**9)),
            "label": draw(st.text(max_size=60)),
        },
        "matter": draw(
            st.none()
            | st.fixed_dictionaries(
                {"id": st.integers(1, 10**6), "label": st.text(max_size=30)}
            )
        ),
        "changes": draw(st.dictionaries(st.text(max_size=12), json_values, max_size=3)),
        "context": {"source": draw(st.sampled_from(["web", "admin", "system"]))},
    }


def sealed(batch: list[dict]) -> tuple[dict, list[tuple[str, str]]]:
    ordered = sorted(batch, key=chain.sk_of)
    leaves = [chain.leaf_of(e) for e in ordered]
    body = chain.make_body(
        firm="f_1",
        seq=1,
        period=PERIOD,
        tz="Europe/London",
        leaves=leaves,
        prev=chain.GENESIS,
        sealed_at=SEALED_AT,
    )
    return body, leaves


@settings(max_examples=60, deadline=None)
@given(batch=st.lists(events(), min_size=1, max_size=40), data=st.data())
def test_every_events_proof_verifies_and_any_one_byte_change_fails(batch, data):
    body, leaves = sealed(batch)
    root = bytes.fromhex(body["root"])
    levels = merkle.tree_levels([bytes.fromhex(leaf) for _, leaf in leaves])
    ordered = sorted(batch, key=chain.sk_of)

    for index, event in enumerate(ordered):
        path = merkle.inclusion_proof(levels, index)
        digest = hashlib.sha256(canonical_json(event)).digest()
        assert merkle.verify_inclusion(digest, index, len(ordered), path, root)

    index = data.draw(st.integers(0, len(ordered) - 1), label="event")
    original = canonical_json(ordered[index])
    at = data.draw(st.integers(0, len(original) - 1), label="byte")
    flip = data.draw(st.integers(1, 255), label="xor")
    changed = original[:at] + bytes([original[at] ^ flip]) + original[at + 1 :]
    path = merkle.inclusion_proof(levels, index)
    assert not merkle.verify_inclusion(
        hashlib.sha256(changed).digest(), index, len(ordered), path, root
    )


@settings(max_examples=40, deadline=None)
@given(batch=st.lists(events(), min_size=1, max_size=20))
def test_a_seal_of_any_events_checks_out_and_its_leaf_order_is_time_order(batch):
    body, leaves = sealed(batch)

    assert (
        chain.seal_problems(
            firm="f_1",
            period="2023-03-10",
            body=body,
            hash=seal_hash(body),
            leaves=leaves,
        )
        == []
    )
    assert [sk for sk, _ in leaves] == sorted(sk for sk, _ in leaves)
    assert body["size"] == len(batch)
    assert body["late"] == 0


def make_seal(seq: int, prev: str, period=PERIOD) -> tuple[dict, str]:
    body = chain.make_body(
        firm="f_1",
        seq=seq,
        period=period,
        tz="Europe/London",
        leaves=[],
        prev=prev,
        sealed_at=SEALED_AT,
    )
    return body, seal_hash(body)


def test_an_empty_period_seals_the_empty_tree():
    body, _ = make_seal(1, chain.GENESIS)

    assert body["root"] == hashlib.sha256(b"").hexdigest()
    assert body["index"] == hashlib.sha256(b"").hexdigest()


def test_events_before_the_period_are_counted_late():
    early = {
        "id": uuid7(PERIOD.start),
        "occurred_at": isoformat(PERIOD.start - dt.timedelta(hours=30)),
        "name": "task.created",
    }
    body, _ = sealed([early])

    assert body["late"] == 1


def test_links_name_each_break():
    first, first_hash = make_seal(1, chain.GENESIS)
    following = first_period(dt.date(2023, 3, 11), "Europe/London")
    second, _ = make_seal(2, first_hash, following)
    skipping, _ = make_seal(3, "f" * 64, following)

    def links(body, previous, previous_hash):
        return chain.link_problems(
            period=body["period"],
            body=body,
            previous_period=previous["period"] if previous else None,
            previous_body=previous,
            previous_hash=previous_hash,
        )

    assert links(first, None, None) == []
    assert links(second, first, first_hash) == []
    assert links(second, None, None) == [
        "chain break before 2023-03-11: it is seal #2, but no seal precedes it "
        "(earlier seals were removed)"
    ]
    assert links(skipping, first, first_hash) == [
        f"chain break before 2023-03-11: it follows a seal hashing to {'f' * 64}, "
        f"but the seal before it (2023-03-10) hashes to {first_hash}",
        "chain break before 2023-03-11: seal #3 follows seal #1",
    ]


def test_a_body_that_is_not_a_seal_is_reported_not_crashed_on():
    problems = chain.seal_problems(
        firm="f_1", period="2023-03-10", body={"hello": 1}, hash="", leaves=[]
    )

    assert problems == [
        "seal of 2023-03-10 is unreadable or not a seal (fields: ['hello'])"
    ]
