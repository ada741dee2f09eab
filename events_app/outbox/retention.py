"""Retention of the pipeline's own bookkeeping: delivered outbox rows, the
handlers' ledger and EventBridge entries already sent.

Each grows with every event (an outbox row per event, a ledger row per
handler run: six for an assignment) and none is the record. The events are
kept in the event store (and sealed), notifications in their own table. A
row is needed only while its event can still come round again: an outbox
row until the relay has dispatched it (an undelivered row is never pruned,
however old), an EventBridge entry until it is sent, a ledger row while a
handler task can be redelivered or retried (Celery's retries of a handler
end within the hour, the sweeper's backoff is at most ten minutes). Kept
`PIPELINE_RETENTION_DAYS` (7): a week to look into what was relayed.

`prune()` deletes in batches, oldest first, each batch its own short
transaction, so the relay never waits behind one long DELETE. Beat runs it
hourly (`prune_pipeline`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Model, QuerySet
from django.utils import timezone

from events_app.models import EventBridgeEntry, HandlerRun, OutboxEvent

BATCH_SIZE = 5000


@dataclass(frozen=True)
class Pruned:
    outbox: int
    ledger: int
    eventbridge: int


def cutoff(now: dt.datetime | None = None) -> dt.datetime:
    """Rows finished before this are no longer needed."""
    days = settings.PIPELINE_RETENTION_DAYS
    return (now or timezone.now()) - dt.timedelta(days=days)


def prune(*, now: dt.datetime | None = None, batch_size: int = BATCH_SIZE) -> Pruned:
    """Delete what finished before `cutoff(now)`; returns how many of each."""
    before = cutoff(now)
    return Pruned(
        outbox=_delete_in_batches(
            OutboxEvent.objects.filter(dispatched_at__lt=before), batch_size
        ),
        ledger=_delete_in_batches(
            HandlerRun.objects.filter(created_at__lt=before), batch_size
        ),
        eventbridge=_delete_in_batches(
            EventBridgeEntry.objects.filter(sent_at__lt=before), batch_size
        ),
    )


def _delete_in_batches(rows: QuerySet[Model], batch_size: int) -> int:
    # Oldest first by primary key: the pruned rows are at the start of the
    # key's index, so each batch is found without scanning the table.
    model = rows.model
    deleted = 0
    while True:
        keys = list(rows.order_by("pk").values_list("pk", flat=True)[:batch_size])
        if not keys:
            return deleted
        count, _ = model.objects.filter(pk__in=keys).delete()
        deleted += count
