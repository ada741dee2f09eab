"""The relay: store outbox rows in the event store, then publish them on the bus.

Relay = store the events (one batched, idempotent DynamoDB write), mark them
stored, publish them on the bus, mark them dispatched. Rows are locked with
`SKIP LOCKED`, so a relay and the sweeper never work on the same rows at once.
A failure records the attempt, its error and a backoff on each row; the
sweeper picks the row up again later. Nothing is ever dropped. An event is not
relayed while an older event of the same entity is still waiting, so each
entity's events are stored and published in order.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from events_app import bus, store
from events_app.models import OutboxEvent

logger = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 600


def batch_size() -> int:
    return getattr(settings, "OUTBOX_BATCH_SIZE", 200)


def backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(seconds=min(2 ** max(attempts - 1, 0) * 5, MAX_BACKOFF_SECONDS))


@dataclass
class RelayResult:
    stored: int = 0
    duplicates: int = 0
    dispatched: int = 0
    failed: int = 0
    held_back: int = 0
    # The time budget ran out with rows possibly left: whoever ran it must
    # come back (the sweep's caller), or they wait for the beat sweeper.
    more: bool = False
    errors: list[str] = field(default_factory=list)

    @property
    def handled(self) -> int:
        return self.stored + self.duplicates + self.dispatched + self.failed


def _pending() -> Any:
    return OutboxEvent.objects.filter(dispatched_at__isnull=True)


def relay(*, limit: int | None = None, ignore_backoff: bool = False) -> RelayResult:
    """Store and publish one batch of pending events, oldest first."""
    result = RelayResult()
    now = timezone.now()
    with transaction.atomic():
        due = _pending()
        if not ignore_backoff:
            due = due.filter(next_attempt_at__lte=now)
        size = limit or batch_size()
        rows = list(due.select_for_update(skip_locked=True).order_by("seq")[:size])
        if not rows:
            return result
        rows = _in_entity_order(rows, result)
        to_store = [row for row in rows if row.stored_at is None]
        if to_store:
            try:
                put = store.put_events([row.payload for row in to_store])
            except Exception as exc:
                _record_failure(rows, exc, now)
                result.failed = len(rows)
                result.errors.append(repr(exc))
                return result
            result.stored = len(put.written)
            result.duplicates = len(put.duplicates)
            OutboxEvent.objects.filter(seq__in=[r.seq for r in to_store]).update(
                stored_at=now
            )
        try:
            # A savepoint: what the bus's targets wrote (webhook deliveries,
            # EventBridge entries) goes with a failed dispatch, and the
            # retry writes it once.
            with transaction.atomic():
                bus.dispatch([row.payload for row in rows])
        except Exception as exc:
            _record_failure(rows, exc, now)
            result.failed = len(rows)
            result.errors.append(repr(exc))
            return result
        OutboxEvent.objects.filter(seq__in=[r.seq for r in rows]).update(
            dispatched_at=timezone.now(), last_error=""
        )
        result.dispatched = len(rows)
    return result


def _in_entity_order(rows: list[OutboxEvent], result: RelayResult) -> list[OutboxEvent]:
    """Hold back rows whose entity has an older row waiting outside this batch."""
    seqs = {row.seq for row in rows}
    first_seen: dict[str, int] = {}
    for row in rows:
        first_seen.setdefault(row.entity_key, row.seq)
    blockers = (
        _pending()
        .filter(entity_key__in=list(first_seen))
        .exclude(seq__in=seqs)
        .filter(seq__lt=max(seqs))
        .values_list("entity_key", "seq")
    )
    blocked_from: dict[str, int] = {}
    for key, seq in blockers:
        blocked_from[key] = min(seq, blocked_from.get(key, seq))
    kept = [
        row
        for row in rows
        if row.entity_key not in blocked_from or row.seq < blocked_from[row.entity_key]
    ]
    result.held_back = len(rows) - len(kept)
    return kept


def _record_failure(rows: list[OutboxEvent], exc: Exception, now: dt.datetime) -> None:
    logger.warning("outbox relay failed for %d events: %r", len(rows), exc)
    message = f"{type(exc).__name__}: {exc}"[:2000]
    for row in rows:
        row.attempts += 1
        row.last_error = message
        row.next_attempt_at = now + backoff(row.attempts)
    OutboxEvent.objects.bulk_update(rows, ["attempts", "last_error", "next_attempt_at"])


def sweep(*, ignore_backoff: bool = False, max_seconds: float = 50.0) -> RelayResult:
    """Relay every due row, batch after batch, within a time budget."""
    total = RelayResult()
    deadline = timezone.now() + dt.timedelta(seconds=max_seconds)
    while timezone.now() < deadline:
        batch = relay(ignore_backoff=ignore_backoff)
        total.stored += batch.stored
        total.duplicates += batch.duplicates
        total.dispatched += batch.dispatched
        total.failed += batch.failed
        total.held_back += batch.held_back
        total.errors.extend(batch.errors)
        if batch.failed or batch.handled == 0:
            break
    else:
        total.more = True
    return total
