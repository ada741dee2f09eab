"""Verifying a firm's audit trail: every seal recomputed from the stored events.

For each seal of the range, in chain order:
- the seal on its own (`chain.seal_problems`): its body hashes to its
  stored hash, it is stored under its own period, its leaf list is the one
  it sealed (index hash) and hashes to its root;
- its link to the seal before it (`chain.link_problems`): the previous
  hash, the next sequence number, no gap in time; and, given a published
  copy of the chain (a downloaded seal chain), the same hash as there;
- its events: the period's stored events and its late ones, each hashed
  again and compared with its leaf. An event whose leaf differs is
  *changed*, a leaf with no event *removed*, an event no seal holds (other
  than an expiring one, never sealed) *added*; an event stored at another
  time than it was sealed is removed from one period and added to another,
  with a note saying where it went. The root recomputed from the stored
  events must equal the sealed root.

What this proves and what it cannot: see docs/architecture.md, "Sealed
audit trail".
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from events_app import store
from events_app.envelope import parse_instant
from events_app.names import EXPIRING
from events_app.seals import chain
from events_app.seals.canonical import event_digest
from events_app.seals.sealing import events_between, late_days

_SK_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z#[0-9a-f-]{36}$")


@dataclass
class PeriodReport:
    """The findings of one seal. `late` (ids) is information, not a finding."""

    period: str
    seq: Any
    size: int
    late: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not (self.changed or self.added or self.removed or self.problems)


@dataclass
class TrailReport:
    firm: str
    periods: list[PeriodReport] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    sealed_through: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems and all(p.ok for p in self.periods)

    @property
    def findings(self) -> int:
        return len(self.problems) + sum(
            len(p.changed) + len(p.added) + len(p.removed) + len(p.problems)
            for p in self.periods
        )


@dataclass(frozen=True)
class _Leaf:
    period: str
    sk: str
    digest: str


def _id_of(sk: str) -> str:
    return sk.partition("#")[2]


def _time_of(sk: str) -> str:
    return sk.partition("#")[0]


def _bounds(body: dict[str, Any]) -> tuple[dt.datetime, dt.datetime] | None:
    try:
        return parse_instant(body["start"]), parse_instant(body["end"])
    except (KeyError, TypeError, ValueError):
        return None


def verify_trail(
    *,
    firm: str,
    first: dt.date | None = None,
    last: dt.date | None = None,
    published: Sequence[dict[str, Any]] | None = None,
    on_period: Callable[[str, int, int], None] | None = None,
) -> TrailReport:
    """Recompute every seal of periods `first`..`last` (all by default).

    `published`: seals from a downloaded chain (body fields and `hash`),
    compared with the store's. `on_period(label, done, total)` is called per
    seal checked (progress bars).
    """
    report = TrailReport(firm)
    head = store.latest_seal(firm=firm)
    report.sealed_through = head.period if head else None
    first_label = first.isoformat() if first else None
    last_label = last.isoformat() if last else None
    seals = list(store.seals_between(firm=firm, first=first_label, last=last_label))
    if not seals:
        report.problems.append(
            f"no seal covers {first_label or 'the beginning'} to "
            f"{last_label or 'the end'}: nothing could be verified"
        )
    # Late events of the last periods may sit in the seals just after them.
    after: list[store.StoredSeal] = []
    if seals and last_label:
        horizon = last + dt.timedelta(days=late_days() + 3)
        after = [
            s
            for s in store.seals_between(
                firm=firm, first=seals[-1].period, last=horizon.isoformat()
            )
            if s.period != seals[-1].period
        ]
    leaves_of = {s.period: store.seal_leaves(s) for s in [*seals, *after]}
    owners: dict[str, _Leaf] = {}
    twice: dict[str, list[str]] = {}
    for period, leaves in leaves_of.items():
        for sk, digest in leaves:
            event_id = _id_of(sk)
            if event_id in owners:
                twice.setdefault(period, []).append(
                    f"event {event_id} is sealed twice: in {owners[event_id].period} "
                    f"and in {period}"
                )
                continue
            owners[event_id] = _Leaf(period, sk, digest)

    previous = store.seal_before(firm=firm, period=seals[0].period) if seals else None
    published_by_period = {
        str(p.get("period")): p for p in published or () if isinstance(p, dict)
    }
    for done, seal in enumerate(seals, start=1):
        leaves = leaves_of[seal.period]
        period = PeriodReport(seal.period, seal.body.get("seq"), len(leaves))
        report.periods.append(period)
        period.problems += chain.seal_problems(
            firm=firm,
            period=seal.period,
            body=seal.body,
            hash=seal.hash,
            leaves=leaves,
        )
        period.problems += chain.link_problems(
            period=seal.period,
            body=seal.body,
            previous_period=previous.period if previous else None,
            previous_body=previous.body if previous else None,
            previous_hash=previous.hash if previous else None,
        )
        period.problems += twice.get(seal.period, [])
        copy = published_by_period.get(seal.period)
        if copy is not None and copy.get("hash") != seal.hash:
            period.problems.append(
                f"seal of {seal.period} differs from the published chain: "
                f"stored {seal.hash}, published {copy.get('hash')}"
            )
        _check_events(firm, seal, leaves, owners, period)
        previous = seal
        if on_period is not None:
            on_period(seal.period, done, len(seals))

    stored_periods = {s.period for s in seals}
    for label, copy in sorted(published_by_period.items()):
        in_range = (first_label is None or label >= first_label) and (
            last_label is None or label <= last_label
        )
        if in_range and label not in stored_periods:
            report.problems.append(
                f"seal #{copy.get('seq')} of {label} is in the published chain "
                f"(hash {copy.get('hash')}) but not in the store"
            )
    return report


def _check_events(
    firm: str,
    seal: store.StoredSeal,
    leaves: list[tuple[str, str]],
    owners: dict[str, _Leaf],
    period: PeriodReport,
) -> None:
    """Compare a seal's leaves with the events stored now; fill `period`."""
    bounds = _bounds(seal.body)
    if bounds is None:
        return
    start, end = bounds
    start_text = seal.body["start"]
    late_sks = [sk for sk, _ in leaves if sk < start_text]
    period.late = [_id_of(sk) for sk in late_sks]
    stored = events_between(firm, start, end, sealed_only=False)
    found_late = store.events_at(
        firm=firm, sks=[sk for sk in late_sks if _SK_RE.match(sk)]
    )
    stored += found_late.values()
    seen: set[str] = set()
    recomputed: list[tuple[str, str]] = []
    for event in stored:
        event_id = event["id"]
        sk = chain.sk_of(event)
        digest = event_digest(event).hex()
        owner = owners.get(event_id)
        if owner is None:
            if event["name"] in EXPIRING:
                continue
            period.added.append(event_id)
            recomputed.append((sk, digest))
            continue
        if owner.period == seal.period:
            seen.add(event_id)
            recomputed.append((sk, digest))
            if (sk, digest) != (owner.sk, owner.digest):
                period.changed.append(event_id)
                if sk != owner.sk:
                    period.notes[event_id] = (
                        f"sealed as of {_time_of(owner.sk)}, stored as of "
                        f"{_time_of(sk)}"
                    )
            continue
        if owner.sk == sk:
            continue  # a late event of a later seal, checked with that seal
        period.added.append(event_id)
        period.notes[event_id] = (
            f"sealed in {owner.period} as of {_time_of(owner.sk)}, now stored "
            f"as of {_time_of(sk)}"
        )
        recomputed.append((sk, digest))
    period.removed = [i for i in (_id_of(sk) for sk, _ in leaves) if i not in seen]
    recomputed.sort()
    root = chain.root_hex(recomputed)
    explained = period.changed or period.added or period.removed
    if root != seal.body.get("root") and not explained:
        period.problems.append(
            f"the events stored now hash to root {root}, not the sealed "
            f"{seal.body.get('root')}"
        )
