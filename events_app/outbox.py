"""The transactional outbox: enqueue in the change's transaction, relay after.

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
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.utils import timezone

from events_app.models import OutboxEvent

logger = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 600


def batch_size() -> int:
    from django.conf import settings

    return getattr(settings, "OUTBOX_BATCH_SIZE", 200)


def entity_key(event: dict[str, Any]) -> str:
    subject = event["subject"]
    return f"{subject['type']}:{subject['id']}"[:80]


_INSERT_FIELDS = (
    "event_id",
    "name",
    "firm",
    "entity_key",
    "payload",
    "created_at",
    "next_attempt_at",
    "attempts",
    "last_error",
)
# One row on PostgreSQL, in _INSERT_FIELDS order: text values typed by casts;
# attempts and last_error start at 0 and '', constants in the SQL.
_PG_ROW = "(%s::uuid, %s, %s, %s, %s::jsonb, %s::timestamptz, %s::timestamptz, 0, '')"


def enqueue(events: Sequence[dict[str, Any]]) -> None:
    """Write events to the outbox in the current transaction; relay after commit.

    One multi-row INSERT, built here rather than by the ORM's bulk_create
    (which costs several times the statement): this runs inside every tracked
    write. Inside `atomic()` on PostgreSQL the INSERT is deferred and sent in
    the COMMIT's round trip (`events_app.backends.postgresql`).

    The relay is woken by a NOTIFY delivered at commit when a worker can hear
    it (PostgreSQL and a broker: `events_app.listener`), else by an
    `on_commit` hook (inline when Celery is eager).
    """
    if not events:
        return
    db = connections[DEFAULT_DB_ALIAS]
    postgres = db.vendor == "postgresql"
    sql = _insert_sql(db.vendor, len(events))
    params = _pg_params(events) if postgres else _insert_params(events, db)
    notify = NOTIFY_CHANNEL if postgres and not _celery_eager() else None
    if getattr(db, "defers_outbox", False) and db.in_atomic_block:
        db.defer_outbox(sql, params, notify)
    else:
        if notify:  # one statement: the NOTIFY is sent when this commits
            sql = f"WITH rows AS ({sql} RETURNING 1) SELECT pg_notify(%s, '')"
            params.append(notify)
        with db.cursor() as cursor:
            cursor.execute(sql, params)
    if notify is None:
        _relay_after_commit()


@lru_cache(maxsize=64)
def _insert_sql(vendor: str, count: int) -> str:
    """INSERT of `count` rows (on PostgreSQL, typed by casts in the SQL)."""
    meta = OutboxEvent._meta
    quote = connections[DEFAULT_DB_ALIAS].ops.quote_name
    columns = ", ".join(quote(meta.get_field(name).column) for name in _INSERT_FIELDS)
    row = _PG_ROW if vendor == "postgresql" else f"({', '.join(['%s'] * 9)})"
    # Only quoted identifiers and placeholders are interpolated; values bind.
    return (
        f"INSERT INTO {quote(meta.db_table)} ({columns}) "  # noqa: S608
        f"VALUES {', '.join([row] * count)}"
    )


def _pg_params(events: Sequence[dict[str, Any]]) -> list[Any]:
    """Plain str values, cheap to bind client-side when the backend sends the
    INSERT with the COMMIT. The instant goes as ISO 8601 text with its UTC
    offset (exact, and a tenth of the cost of binding a datetime)."""
    now = timezone.now().isoformat()
    params: list[Any] = []
    for event in events:
        params += (
            event["id"],
            event["name"],
            event["firm"],
            entity_key(event),
            json.dumps(event),
            now,
            now,
        )
    return params


def _insert_params(events: Sequence[dict[str, Any]], db: Any) -> list[Any]:
    """Elsewhere (SQLite) each field prepares its own value."""
    now = timezone.now()
    fields = [OutboxEvent._meta.get_field(name) for name in _INSERT_FIELDS]
    params: list[Any] = []
    for event in events:
        values = (
            event["id"],
            event["name"],
            event["firm"],
            entity_key(event),
            event,
            now,
            now,
            0,
            "",
        )
        params += (
            f.get_db_prep_save(v, db) for f, v in zip(fields, values, strict=True)
        )
    return params


NOTIFY_CHANNEL = "hl_outbox"


def _celery_eager() -> bool:
    from hivelight.celery import app

    return bool(app.conf["task_always_eager"])


def _relay_after_commit() -> None:
    """Schedule one relay per transaction (re-armed if a savepoint drops it)."""
    if any(func is schedule_relay for _, func, _ in connection.run_on_commit):
        return
    transaction.on_commit(schedule_relay, robust=True)


RELAY_ARMED_KEY = "hl:relay:armed"
RELAY_ARMED_MS = 2000
_redis_clients: dict[str, Any] = {}


def _redis() -> Any:
    """A plain redis-py client on REDIS_URL, one per process (pooled, fork-safe).

    Used instead of Django's cache API: this runs after many commits, and
    the cache layer cost several times the Redis round trip itself.
    """
    import redis
    from django.conf import settings

    url = settings.REDIS_URL
    client = _redis_clients.get(url)
    if client is None:
        client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        _redis_clients[url] = client
    return client


def schedule_relay() -> None:
    """Publish a relay unless one is already queued and not yet started.

    A relay clears the key before it reads the outbox, so rows committed
    while the key is set are read by that relay; the key expiring covers a
    lost message, and the sweeper covers everything else.
    """
    from events_app.tasks import relay_outbox

    try:
        if not _celery_eager() and not _redis().set(
            RELAY_ARMED_KEY, 1, nx=True, px=RELAY_ARMED_MS
        ):
            return
        relay_outbox.delay()
    except Exception:  # broker down: the sweeper relays these rows later
        logger.warning(
            "outbox relay not scheduled; the sweeper will retry", exc_info=True
        )
        disarm_relay()


def disarm_relay() -> None:
    """Called by a starting relay: later wake-ups must publish again."""
    if _celery_eager():
        return
    try:
        _redis().delete(RELAY_ARMED_KEY)
    except Exception:
        logger.warning("could not clear the relay key", exc_info=True)


def backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(seconds=min(2 ** max(attempts - 1, 0) * 5, MAX_BACKOFF_SECONDS))


@dataclass
class RelayResult:
    stored: int = 0
    duplicates: int = 0
    dispatched: int = 0
    failed: int = 0
    held_back: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def handled(self) -> int:
        return self.stored + self.duplicates + self.dispatched + self.failed


def _pending() -> Any:
    return OutboxEvent.objects.filter(dispatched_at__isnull=True)


def relay(*, limit: int | None = None, ignore_backoff: bool = False) -> RelayResult:
    """Store and publish one batch of pending events, oldest first."""
    from events_app import bus, store

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
    return total
