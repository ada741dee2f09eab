"""Inclusion proofs for exported events, from the seals that hold them.

An export streams events newest first; `SealProofs` finds each one's seal
(the period containing its occurred_at, else, for a late event, one of the
seals after it), builds that seal's tree once from its stored leaf list
(a few trees are kept) and answers the event's RFC 9162 audit path. It
proves only what the export already includes: the path holds neighbours'
hashes, never their contents.

A proof is made from the seal's leaf list as stored. If the event was
changed since, the proof does not verify against the seal's root: that is
the point. A seal whose leaf list no longer hashes to its root gives no
proofs ("its seal is damaged").
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from events_app import store
from events_app.envelope import parse_instant
from events_app.names import EXPIRING
from events_app.seals import chain, merkle
from events_app.seals.sealing import late_days

TREES_KEPT = 8


@dataclass(frozen=True)
class _Tree:
    levels: list[list[bytes]] | None
    positions: dict[str, int]
    digests: list[str]  # each leaf's event digest (hex), in leaf order


class SealProofs:
    """Proofs for the events of one firm between `start` and `end` (an export)."""

    def __init__(self, *, firm: str, start: dt.datetime, end: dt.datetime) -> None:
        self.firm = firm
        self.reach = late_days() + 3
        first = (start - dt.timedelta(days=3)).date().isoformat()
        last = (end + dt.timedelta(days=self.reach)).date().isoformat()
        self.seals: list[store.StoredSeal] = []
        self.starts: list[dt.datetime] = []
        self.ends: list[dt.datetime] = []
        for seal in store.seals_between(firm=firm, first=first, last=last):
            try:
                begins = parse_instant(seal.body["start"])
                ends = parse_instant(seal.body["end"])
            except (KeyError, TypeError, ValueError):
                continue  # a damaged seal proves nothing
            self.seals.append(seal)
            self.starts.append(begins)
            self.ends.append(ends)
        self._trees: OrderedDict[str, _Tree] = OrderedDict()

    def _tree(self, seal: store.StoredSeal) -> _Tree:
        tree = self._trees.get(seal.period)
        if tree is not None:
            self._trees.move_to_end(seal.period)
            return tree
        leaves = store.seal_leaves(seal)
        levels = None
        if chain.root_hex(leaves) == seal.body.get("root"):
            levels = merkle.tree_levels([bytes.fromhex(leaf) for _, leaf in leaves])
        tree = _Tree(
            levels,
            {sk.partition("#")[2]: i for i, (sk, _) in enumerate(leaves)},
            [leaf for _, leaf in leaves],
        )
        self._trees[seal.period] = tree
        if len(self._trees) > TREES_KEPT:
            self._trees.popitem(last=False)
        return tree

    def proof_for(self, event: dict[str, Any]) -> dict[str, Any]:
        """{"proof", "seal"} for the event, or {"proof": None, "seal": None,
        "unsealed": why}."""
        if event["name"] in EXPIRING:
            return _unsealed(f"{event['name']} events are never sealed")
        occurred = parse_instant(event["occurred_at"])
        i = bisect.bisect_right(self.starts, occurred) - 1
        if i < 0 or occurred >= self.ends[i]:
            i = bisect.bisect_right(self.starts, occurred)  # late: a later seal
        for seal in self.seals[max(i, 0) : max(i, 0) + self.reach]:
            tree = self._tree(seal)
            position = tree.positions.get(event["id"])
            if position is None:
                continue
            if tree.levels is None:
                return _unsealed(
                    f"its seal ({seal.period}) is damaged; run verify_audit_trail"
                )
            path = merkle.inclusion_proof(tree.levels, position)
            proof = {
                "leaf_index": position,
                "tree_size": len(tree.levels[0]),
                "audit_path": [node.hex() for node in path],
                "late": event["occurred_at"] < seal.body["start"],
            }
            if event.get("redacted"):
                # Text withheld from this reader (a deleted comment): the
                # export cannot show what was sealed, only that an event
                # with this id sits at this place, with this digest.
                proof["redacted_digest"] = tree.digests[position]
            return {"proof": proof, "seal": chain.record(seal.body, seal.hash)}
        if not self.ends or occurred >= self.ends[-1]:
            return _unsealed("not sealed yet: its period is still open")
        return _unsealed("no seal holds this event")


def _unsealed(reason: str) -> dict[str, Any]:
    return {"proof": None, "seal": None, "unsealed": reason}
