"""Sealing a firm's stored events, period by period, onto its chain of seals.

Each closed period after the chain's head is sealed in order: its events
(every name but the expiring ones, `names.EXPIRING`) read from the firm
index, plus any late events, make one seal (`chain.make_body`) that names
the hash of the seal before it. The first period of a chain is the local
day of the firm's earliest stored event (or of its creation, if earlier).

Late events: an event stored after its period was sealed. Before sealing,
the events of the last `AUDIT_SEAL_LATE_DAYS` before the first open period
are read again and compared with the leaf lists of the seals covering
them; any event none of them holds is sealed in the first open period,
flagged late (its sk is before the seal's start). An event stored later
than that window is found by `verify_audit_trail` as one no seal covers.

Safe to run twice and concurrently: a period's seal is a conditional put,
so two workers sealing the same firm make one seal per period; the one
that loses re-reads the chain and carries on from the winner's seal.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils import timezone

from events_app import envelope, store
from events_app.envelope import parse_instant
from events_app.names import EXPIRING
from events_app.seals import chain
from events_app.seals.canonical import canonical_json, seal_hash
from events_app.seals.periods import (
    Period,
    first_period,
    local_day,
    period_after,
)
from tasks_app.models import Firm

logger = logging.getLogger(__name__)

PAGE_SIZE = 1000


class ChainDamaged(Exception):
    """The chain's newest seal does not check out: sealing stops rather than
    build on a seal that was altered."""


@dataclass
class SealRun:
    """What one sealing run did for a firm."""

    firm: str
    sealed: list[str] = field(default_factory=list)
    events: int = 0
    late: list[str] = field(default_factory=list)
    lost_races: int = 0
    sealed_through: str | None = None


def margin() -> dt.timedelta:
    return dt.timedelta(minutes=int(getattr(settings, "AUDIT_SEAL_MARGIN_MINUTES", 60)))


def late_days() -> int:
    return int(getattr(settings, "AUDIT_SEAL_LATE_DAYS", 7))


def epoch() -> dt.datetime:
    day = dt.date.fromisoformat(
        str(getattr(settings, "AUDIT_SEAL_EPOCH", "2020-01-01"))
    )
    return dt.datetime.combine(day, dt.time(), dt.UTC)


def events_between(
    firm: str, start: dt.datetime, end: dt.datetime, *, sealed_only: bool = True
) -> list[dict[str, Any]]:
    """A firm's stored events with start <= occurred_at < end, in sk order.

    `sealed_only` leaves out the expiring names, which are never sealed.
    """
    return list(
        store.iter_events(
            store.query_firm_events,
            firm=firm,
            start=start,
            end=end,
            exclude_names=sorted(EXPIRING) if sealed_only else None,
            newest_first=False,
            page_size=PAGE_SIZE,
        )
    )


def _first_day(
    firm: str, tz: str, created: dt.date | None, now: dt.datetime
) -> dt.date | None:
    """Where a new chain starts: the day of the earliest event, or of creation."""
    days = [created] if created else []
    page = store.query_firm_events(
        firm=firm,
        start=epoch(),
        end=now,
        limit=1,
        newest_first=False,
        fields=["occurred_at"],
    )
    if page.items:
        days.append(local_day(parse_instant(page.items[0]["occurred_at"]), tz))
    return min(days) if days else None


def _late_events(firm: str, start: dt.datetime) -> list[dict[str, Any]]:
    """Events of the window before `start` that no seal holds yet."""
    days = late_days()
    if days <= 0:
        return []
    window = start - dt.timedelta(days=days)
    # Labels are local days and a period lasts at most about two days: from
    # three days before the window, every seal covering it is read.
    first = (window - dt.timedelta(days=3)).date().isoformat()
    covered: set[str] = set()
    for seal in store.seals_between(firm=firm, first=first):
        covered.update(sk for sk, _ in store.seal_leaves(seal))
    return [
        e for e in events_between(firm, window, start) if chain.sk_of(e) not in covered
    ]


def _checked_head(firm: str, now: dt.datetime) -> store.StoredSeal | None:
    """The chain's newest seal, if it checks out on its own and links to the
    one before it (a cheap check, not verification); else ChainDamaged."""
    head = store.latest_seal(firm=firm)
    if head is None:
        return None
    problems = chain.seal_problems(
        firm=firm,
        period=head.period,
        body=head.body,
        hash=head.hash,
        leaves=store.seal_leaves(head),
    )
    if not problems:
        before = store.seal_before(firm=firm, period=head.period)
        problems = chain.link_problems(
            period=head.period,
            body=head.body,
            previous_period=before.period if before else None,
            previous_body=before.body if before else None,
            previous_hash=before.hash if before else None,
        )
    if not problems and parse_instant(head.body["end"]) > now:
        problems = [f"seal of {head.period} ends in the future ({head.body['end']})"]
    if problems:
        raise ChainDamaged(
            f"the newest seal of {firm} does not check out, so nothing is sealed "
            f"on top of it: {'; '.join(problems)}. Run verify_audit_trail."
        )
    return head


def seal_trail(
    *,
    firm: str,
    tz: str,
    until: dt.date | None = None,
    created: dt.date | None = None,
    now: dt.datetime | None = None,
    on_period: Callable[[str], None] | None = None,
) -> SealRun:
    """Seal every closed period of `firm` after its chain's head.

    A period is closed `AUDIT_SEAL_MARGIN_MINUTES` after it ends (at `now`,
    default the current time); `until` (a local day) stops earlier.
    `created` is the firm's creation day in `tz`, where a chain with no
    events starts. `on_period(label)` is called per period sealed.
    Idempotent; see the module docstring for late events and races.
    """
    now = now or timezone.now()
    run = SealRun(firm)
    closing = margin()
    while True:
        head = _checked_head(firm, now)
        if head is None:
            day = _first_day(firm, tz, created, now)
            if day is None:
                return run
            period: Period = first_period(day, tz)
            prev, seq = chain.GENESIS, 1
            late: list[dict[str, Any]] | None = []
        else:
            run.sealed_through = head.period
            period = period_after(
                day=dt.date.fromisoformat(head.period),
                end=parse_instant(head.body["end"]),
                tz=tz,
            )
            prev, seq = head.hash, head.body["seq"] + 1
            late = None
        while period.is_closed(now=now, margin=closing) and (
            until is None or period.day <= until
        ):
            if late is None:
                late = _late_events(firm, period.start)
            events = sorted(
                late + events_between(firm, period.start, period.end), key=chain.sk_of
            )
            leaves = [chain.leaf_of(e) for e in events]
            body = chain.make_body(
                firm=firm,
                seq=seq,
                period=period,
                tz=tz,
                leaves=leaves,
                prev=prev,
                sealed_at=timezone.now(),
            )
            digest = seal_hash(body)
            label = body["period"]
            stored = store.put_seal(
                firm=firm,
                period=label,
                body_text=canonical_json(body).decode(),
                hash=digest,
                leaves=leaves,
            )
            if not stored:
                logger.info("seal of %s %s was made by another worker", firm, label)
                run.lost_races += 1
                break
            if late:
                logger.warning(
                    "sealed %d late events of %s in %s", len(late), firm, label
                )
            run.sealed.append(label)
            run.events += len(leaves)
            run.late.extend(e["id"] for e in late)
            run.sealed_through = label
            if on_period is not None:
                on_period(label)
            prev, seq, late = digest, seq + 1, []
            period = period_after(day=period.day, end=period.end, tz=tz)
        else:
            return run


def seal_firm(
    *,
    firm_id: int,
    until: dt.date | None = None,
    now: dt.datetime | None = None,
    on_period: Callable[[str], None] | None = None,
) -> SealRun:
    """Seal a firm's closed periods in its timezone (see `seal_trail`)."""
    firm = Firm.objects.get(pk=firm_id)
    return seal_trail(
        firm=envelope.firm_key(firm.pk),
        tz=firm.timezone,
        until=until,
        created=local_day(firm.created_at, firm.timezone),
        now=now,
        on_period=on_period,
    )


def firm_ids() -> list[int]:
    return list(Firm.objects.order_by("pk").values_list("pk", flat=True))
