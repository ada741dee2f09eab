"""Canonical JSON: the one byte string an event (or a seal) is hashed as.

`json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
allow_nan=False)` encoded as UTF-8. Spelled out, for a verifier in any
language:

- objects: members sorted by key (by Unicode code point; envelope keys are
  ASCII), `{"a":1,"b":2}`, no whitespace anywhere;
- strings: UTF-8 as is, except `"` and `\\` (backslash-escaped) and control
  characters below U+0020 (`\\b \\f \\n \\r \\t`, others `\\u00XX` in lowercase
  hex); nothing else is escaped, not even `/`, U+007F or U+2028;
- integers in plain decimal (`-12`, `0`); a non-integer number as Python's
  `repr` of the float (shortest round trip: `0.1`, `1e-07`, `1e+16`); NaN
  and infinities are refused. Envelopes hold integers only outside
  `changes`, and `changes` is stored as JSON text, so what comes back is
  what was written;
- `true`, `false`, `null`.

A lone surrogate (which PostgreSQL text cannot hold, so no captured event
has one) is written as its 3-byte UTF-8 form ("surrogatepass"), not refused:
a single odd event must not stop a firm's trail from being sealed.

An event is hashed as the event store returns it (`store.get_event`,
`store.query_*`): the envelope with `matter` null when absent and any extra
top-level key (`parent`). The JSON Lines export writes the same object, so
`canonical_json(json.loads(line))` gives the same bytes.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(value: Any) -> bytes:
    """The canonical UTF-8 JSON of a JSON-safe value (see the module docstring)."""
    text = json.dumps(
        value,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )
    return text.encode("utf-8", "surrogatepass")


def event_digest(event: dict[str, Any]) -> bytes:
    """A Merkle leaf: SHA-256 of the event's canonical JSON (32 bytes)."""
    return hashlib.sha256(canonical_json(event)).digest()


def seal_hash(body: dict[str, Any]) -> str:
    """A seal's hash: hex SHA-256 of its body's canonical JSON."""
    return hashlib.sha256(canonical_json(body)).hexdigest()
