"""PostgreSQL, with the transaction's outbox rows sent in the COMMIT's round trip.

A tracked write inside `atomic()` hands its outbox INSERT to
`defer_outbox()` instead of executing it. At commit, the pending INSERTs, an
optional NOTIFY and COMMIT go to the server as one simple-protocol query:
one round trip instead of two, and all or nothing, so a change and its
events still commit together. Pending rows follow the transaction exactly
like Django's `on_commit` callbacks: a savepoint rollback drops the rows
deferred inside it, a rollback drops them all. `flush_outbox()` writes them
at once, in the transaction; `OutboxEvent.objects` calls it, so reads of the
outbox see the transaction's own rows.

Used when DATABASE_URL is PostgreSQL (ENGINE "events_app.backends.postgresql").
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import psycopg
from django.db.backends.postgresql import base
from django.db.backends.utils import debug_transaction
from psycopg import ClientCursor


def notify_sql(channel: str) -> str:
    """`NOTIFY "channel"`, the channel quoted as an identifier."""
    return 'NOTIFY "{}"'.format(channel.replace('"', '""'))


def commit_with_outbox(
    conn: psycopg.Connection,
    pending: Iterable[tuple[str, list[Any]]],
    notify: str | None,
) -> None:
    """Send the INSERTs, `NOTIFY notify` (if set) and COMMIT as one query.

    Parameters are bound client-side: a multi-statement query must use the
    simple protocol. An error in any statement aborts the transaction before
    COMMIT; `atomic()` then rolls back and re-raises.
    """
    mogrify = ClientCursor(conn).mogrify
    script = [mogrify(sql, params) for sql, params in pending]
    if notify:
        script.append(notify_sql(notify))
    script.append("COMMIT")
    conn.execute(";\n".join(script))


class DatabaseWrapper(base.DatabaseWrapper):
    defers_outbox = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # (savepoint ids open when deferred, sql, params), in order.
        self.outbox_pending: list[tuple[set[str], str, list[Any]]] = []
        self.outbox_notify: str | None = None

    def defer_outbox(self, sql: str, params: list[Any], notify: str | None) -> None:
        """Send this INSERT with the COMMIT (and NOTIFY `notify` there, if set)."""
        self.outbox_pending.append((set(self.savepoint_ids), sql, params))
        if notify:
            self.outbox_notify = notify

    def _take_outbox(self) -> tuple[list[tuple[str, list[Any]]], str | None]:
        pending = [(sql, params) for _, sql, params in self.outbox_pending]
        notify = self.outbox_notify
        self.outbox_pending, self.outbox_notify = [], None
        return pending, notify

    def flush_outbox(self) -> None:
        """Execute the pending INSERTs now, in the current transaction."""
        if not self.outbox_pending:
            return
        pending, notify = self._take_outbox()
        with self.cursor() as cursor:
            for sql, params in pending:
                cursor.execute(sql, params)
            if notify:  # transactional: delivered at commit, or never
                cursor.execute(notify_sql(notify))

    def _commit(self) -> None:
        if not self.outbox_pending or self.connection is None:
            return super()._commit()
        pending, notify = self._take_outbox()
        with debug_transaction(self, "COMMIT"), self.wrap_database_errors:
            commit_with_outbox(self.connection, pending, notify)

    def _rollback(self) -> None:
        self.outbox_pending, self.outbox_notify = [], None
        return super()._rollback()

    def savepoint_rollback(self, sid: str) -> None:
        super().savepoint_rollback(sid)
        self.outbox_pending = [
            entry for entry in self.outbox_pending if sid not in entry[0]
        ]
        if not self.outbox_pending:
            self.outbox_notify = None

    def close(self) -> None:
        self.outbox_pending, self.outbox_notify = [], None
        super().close()
