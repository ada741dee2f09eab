"""Writing events to the outbox, in the transaction of the change they describe.

An ordinary INSERT on the current connection, inside whatever transaction is
open: whatever the database rolls back (atomic, nested atomic, a manual
savepoint, a raw ROLLBACK, a failed COMMIT) takes the events with it, and
whatever it commits has them. The same SQL runs on PostgreSQL and SQLite;
on PostgreSQL with workers listening, the statement also carries
`pg_notify`, which PostgreSQL delivers only if the transaction commits.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.utils import timezone

from events_app.models import OutboxEvent
from events_app.outbox import wakeup

_FIELDS = (
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


def entity_key(event: dict[str, Any]) -> str:
    """`task:1234`: events of one entity are relayed in order."""
    subject = event["subject"]
    return f"{subject['type']}:{subject['id']}"[:80]


def enqueue(events: Sequence[dict[str, Any]]) -> None:
    """Write `events` to the outbox now, in the current transaction.

    One multi-row INSERT, built here rather than by the ORM's `bulk_create`
    (which costs several times the statement): this runs inside every
    tracked write. The relay is woken by the INSERT's own NOTIFY where a
    worker listens (PostgreSQL, Celery not eager), else once the
    transaction commits.
    """
    if not events:
        return
    db = connections[DEFAULT_DB_ALIAS]
    sql = _insert_sql(len(events))
    params = _params(events, db)
    notify = db.vendor == "postgresql" and not wakeup.celery_eager()
    if notify:
        sql = f"WITH outbox_rows AS ({sql} RETURNING 1) SELECT pg_notify(%s, '')"
        params.append(wakeup.NOTIFY_CHANNEL)
    with db.cursor() as cursor:
        cursor.execute(sql, params)
    # Under manual transaction management (autocommit off, no atomic) there
    # is no commit hook: the next relay or the sweeper takes these rows.
    #
    # One wake-up per commit, however many writes it holds: a relay reads
    # every committed row, and inline (Celery eager) each extra hook would
    # run a relay of its own. A hook of a savepoint rolled back goes with
    # that savepoint's rows, so the check stays exact.
    woken = any(hook[1] is wakeup.schedule_relay for hook in db.run_on_commit)
    if not notify and not woken and (db.in_atomic_block or db.get_autocommit()):
        transaction.on_commit(wakeup.schedule_relay, robust=True)


@lru_cache(maxsize=64)
def _insert_sql(count: int) -> str:
    meta = OutboxEvent._meta
    quote = connections[DEFAULT_DB_ALIAS].ops.quote_name
    columns = ", ".join(quote(meta.get_field(name).column) for name in _FIELDS)
    row = f"({', '.join(['%s'] * len(_FIELDS))})"
    # Only quoted identifiers and placeholders are interpolated; values bind.
    return (
        f"INSERT INTO {quote(meta.db_table)} ({columns}) "  # noqa: S608
        f"VALUES {', '.join([row] * count)}"
    )


def _params(events: Sequence[dict[str, Any]], db: Any) -> list[Any]:
    """Each value prepared by its own model field, as the ORM would; the
    payload as JSON text, which both databases take for a JSON column."""
    now = timezone.now()
    prepared = [
        OutboxEvent._meta.get_field(name).get_db_prep_save(now, db)
        for name in ("created_at", "next_attempt_at")
    ]
    event_id = OutboxEvent._meta.get_field("event_id")
    params: list[Any] = []
    for event in events:
        params += (
            event_id.get_db_prep_save(event["id"], db),
            event["name"],
            event["firm"],
            entity_key(event),
            json.dumps(event),
            *prepared,
            0,
            "",
        )
    return params
