"""What a seal is: its body, its hash, its leaf list, and how seals chain. Pure.

A seal's body (hashed as canonical JSON; `hash` is its hex SHA-256):

    v          1, the format
    firm       the tenant key, `f_<id>`
    seq        1, 2, 3 ...: its place in the firm's chain
    period     the local day it seals (`YYYY-MM-DD`), `tz` the timezone
    start, end the period as UTC instants, [start, end)
    size       number of leaves; `late` how many are late events
    root       hex RFC 9162 tree head over the leaves, in order
    index      hex SHA-256 of the leaf list text (below)
    prev       the previous seal's hash; GENESIS for the first
    sealed_at  when it was made

Leaves are the period's events (every name but the expiring ones) plus any
late events, ordered by sk (`<occurred_at>#<id>`), so late ones (earlier
occurred_at) come first; a leaf is SHA-256 of the event's canonical JSON.
A leaf is late when its sk is before `start`. The leaf list text is one
line per leaf, `<sk> <leaf hex>\\n`: the root pins the events' contents in
order, the index pins which event each leaf is.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from typing import Any

from events_app.envelope import isoformat
from events_app.seals import merkle
from events_app.seals.canonical import event_digest, seal_hash
from events_app.seals.periods import Period

FORMAT = 1
GENESIS = "0" * 64
BODY_KEYS = frozenset(
    {
        "v",
        "firm",
        "seq",
        "period",
        "tz",
        "start",
        "end",
        "size",
        "late",
        "root",
        "index",
        "prev",
        "sealed_at",
    }
)

Leaf = tuple[str, str]  # (sk, leaf digest hex)


def sk_of(event: dict[str, Any]) -> str:
    """The event's place in time order: its store sort key."""
    return f"{event['occurred_at']}#{event['id']}"


def leaf_of(event: dict[str, Any]) -> Leaf:
    return sk_of(event), event_digest(event).hex()


def index_hash(leaves: Sequence[Leaf]) -> str:
    digest = hashlib.sha256()
    for sk, leaf in leaves:
        digest.update(f"{sk} {leaf}\n".encode())
    return digest.hexdigest()


def root_hex(leaves: Sequence[Leaf]) -> str | None:
    """The tree head over the leaves, or None if a leaf is not 64 hex digits."""
    try:
        digests = [bytes.fromhex(leaf) for _, leaf in leaves]
    except ValueError:
        return None
    if any(len(d) != 32 for d in digests):
        return None
    return merkle.root(digests).hex()


def make_body(
    *,
    firm: str,
    seq: int,
    period: Period,
    tz: str,
    leaves: Sequence[Leaf],
    prev: str,
    sealed_at: dt.datetime,
) -> dict[str, Any]:
    """The body of a seal over `leaves` (already in sk order)."""
    start = isoformat(period.start)
    return {
        "v": FORMAT,
        "firm": firm,
        "seq": seq,
        "period": period.day.isoformat(),
        "tz": tz,
        "start": start,
        "end": isoformat(period.end),
        "size": len(leaves),
        "late": sum(1 for sk, _ in leaves if sk < start),
        "root": root_hex(leaves),
        "index": index_hash(leaves),
        "prev": prev,
        "sealed_at": isoformat(sealed_at),
    }


def record(body: dict[str, Any], hash: str) -> dict[str, Any]:
    """A seal as handed to others (chain file, exports): its body and hash."""
    return {**body, "hash": hash}


def seal_problems(
    *, firm: str, period: str, body: dict[str, Any], hash: str, leaves: Sequence[Leaf]
) -> list[str]:
    """What is wrong with one stored seal on its own (not its events or links)."""
    if set(body) != BODY_KEYS:
        return [
            f"seal of {period} is unreadable or not a seal (fields: {sorted(body)})"
        ]
    problems = []
    if seal_hash(body) != hash:
        problems.append(
            f"seal of {period} was altered: its body hashes to "
            f"{seal_hash(body)}, not its stored hash {hash}"
        )
    if body["firm"] != firm:
        problems.append(f"seal of {period} belongs to firm {body['firm']}, not {firm}")
    if body["period"] != period:
        problems.append(
            f"seal stored as {period} is the seal of {body['period']} "
            "(seals moved or swapped)"
        )
    if body["size"] != len(leaves) or body["index"] != index_hash(leaves):
        problems.append(
            f"leaf list of {period} was altered: {len(leaves)} leaves stored, "
            f"{body['size']} sealed"
        )
    elif root_hex(leaves) != body["root"]:
        problems.append(f"leaf list of {period} does not hash to the sealed root")
    return problems


def link_problems(
    *,
    period: str,
    body: dict[str, Any],
    previous_period: str | None,
    previous_body: dict[str, Any] | None,
    previous_hash: str | None,
) -> list[str]:
    """Breaks in the chain between the seal stored as `period` and the one
    stored before it (`previous_*`; None: this should be the first seal).

    A damaged seal on either side is reported by `seal_problems`; only what
    can still be compared is checked here.
    """
    if set(body) != BODY_KEYS:
        return []
    if previous_body is None:
        if body["seq"] != 1 or body["prev"] != GENESIS:
            return [
                f"chain break before {period}: it is seal #{body['seq']}, but no "
                "seal precedes it (earlier seals were removed)"
            ]
        return []
    problems = []
    if body["prev"] != previous_hash:
        problems.append(
            f"chain break before {period}: it follows a seal hashing to "
            f"{body['prev']}, but the seal before it ({previous_period}) "
            f"hashes to {previous_hash}"
        )
    before = previous_body.get("seq")
    if isinstance(before, int) and body["seq"] != before + 1:
        problems.append(
            f"chain break before {period}: seal #{body['seq']} follows seal #{before}"
        )
    if "end" in previous_body and body["start"] != previous_body["end"]:
        problems.append(
            f"chain break before {period}: it starts at {body['start']}, the seal "
            f"before it ends at {previous_body['end']}"
        )
    return problems
