"""Canonical JSON: one byte string per event, the same after a round trip."""

from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from events_app import store
from events_app.seals.canonical import canonical_json, event_digest, seal_hash
from tests.events_app.event_helpers import at, envelope_event

# A fixed envelope and its digest, written down once: if this changes, every
# seal ever made stops verifying. Change the canonical form only with a new
# seal format (chain.FORMAT), never in place.
GOLDEN = {
    "id": "0186c4b2-8f00-7000-8000-000000000001",
    "name": "comment.added",
    "version": 1,
    "occurred_at": "2023-03-10T09:30:00.123456Z",
    "firm": "f_1",
    "actor": {"id": 7, "name": "Zoë Ørsted"},
    "subject": {"type": "comment", "id": 12, "label": 'Re: "Smith" v Jones\n'},
    "matter": None,
    "changes": {"body": [None, "£5,000 — agreed ✓"], "amount": [0.5, 1e-07]},
    "context": {"source": "web", "request_id": "r-1"},
    "parent": {"type": "task", "id": 3, "label": "Draft </script>"},
}
GOLDEN_JSON = (
    '{"actor":{"id":7,"name":"Zoë Ørsted"},"changes":{"amount":[0.5,1e-07],'
    '"body":[null,"£5,000 — agreed ✓"]},"context":{"request_id":"r-1",'
    '"source":"web"},"firm":"f_1","id":"0186c4b2-8f00-7000-8000-000000000001",'
    '"matter":null,"name":"comment.added","occurred_at":"2023-03-10T09:30:00.123456Z",'
    '"parent":{"id":3,"label":"Draft </script>","type":"task"},'
    '"subject":{"id":12,"label":"Re: \\"Smith\\" v Jones\\n","type":"comment"},'
    '"version":1}'
)


def test_the_canonical_form_is_sorted_compact_utf8():
    assert canonical_json(GOLDEN) == GOLDEN_JSON.encode("utf-8")
    assert event_digest(GOLDEN).hex() == (
        "9ed2f433b474691e21fe06668fc8b79ff6e151d550d4699093b3bed083b21850"
    )


def test_control_characters_are_escaped_and_nothing_else():
    text = "tab\there \x01 / \u2028 \x7f é"

    assert canonical_json(text) == b'"tab\\there \\u0001 / \xe2\x80\xa8 \x7f \xc3\xa9"'


def test_numbers_that_json_cannot_hold_are_refused():
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})


def test_a_seal_hash_is_over_its_body_only():
    body = {"b": 1, "a": [1, 2]}

    assert seal_hash(body) == hashlib.sha256(b'{"a":[1,2],"b":1}').hexdigest()


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(value=json_values)
def test_parsing_the_canonical_form_gives_back_the_same_bytes(value):
    once = canonical_json(value)

    assert canonical_json(json.loads(once)) == once


def test_an_event_hashes_the_same_as_written_and_as_read_back(world, event_store):
    written = envelope_event(
        at(2023, 3, 10, 9, 30),
        "comment.added",
        firm_id=world.firm.pk,
        actor=world.bob,
        label="Zoë's note — “quoted” </b>",
        changes={"body": [None, "multi\nline £"], "ratio": [0.1, 2.5]},
        parent={"type": "task", "id": 3, "label": "Draft"},
    )
    store.put_events([written])

    read = store.get_event(
        firm=written["firm"],
        user_id=world.bob.pk,
        occurred_at=written["occurred_at"],
        event_id=written["id"],
    )
    exported = json.loads(json.dumps(read, ensure_ascii=False, sort_keys=True))

    assert canonical_json(read) == canonical_json(written) == canonical_json(exported)
