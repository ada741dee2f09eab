"""Wake the relay when outbox rows commit: LISTEN in every Celery worker.

A commit that wrote outbox rows sends `NOTIFY hl_outbox` with its COMMIT
(PostgreSQL delivers it only if the transaction commits), so a web request
pays no broker round trip for its events. Each worker runs one daemon thread
that LISTENs on its own database connection and, per burst of notifications,
calls `outbox.schedule_relay()`: one relay task published unless one is
already queued. When the thread starts or reconnects it schedules a relay
too, for rows committed while nobody was listening; the beat sweeper still
covers anything else (a broker that was down, a notification lost with a
worker).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery import bootsteps

logger = logging.getLogger(__name__)

POLL_SECONDS = 1.0
RETRY_SECONDS = (1, 2, 5, 10)


class OutboxListener:
    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name="outbox-listener", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = POLL_SECONDS + 2) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        from django.db import connection

        failures = 0
        while not self._stop.is_set():
            try:
                if connection.vendor != "postgresql":
                    logger.info("outbox listener off: the database is not PostgreSQL")
                    return
                self._listen(connection)
            except Exception:
                delay = RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)]
                failures += 1
                logger.warning(
                    "outbox listener lost its connection; retrying in %ss",
                    delay,
                    exc_info=True,
                )
                connection.close()
                self._stop.wait(delay)
            else:
                failures = 0
        connection.close()

    def _listen(self, connection: Any) -> None:
        from events_app import outbox

        connection.ensure_connection()
        raw = connection.connection
        raw.execute(f"LISTEN {connection.ops.quote_name(outbox.NOTIFY_CHANNEL)}")
        logger.info("outbox listener: listening on %s", outbox.NOTIFY_CHANNEL)
        self._wake()  # rows committed while nobody listened
        while not self._stop.is_set():
            heard = False
            for _ in raw.notifies(timeout=POLL_SECONDS, stop_after=1):
                heard = True
            if heard:
                # Drain the burst (one NOTIFY per committed transaction).
                for _ in raw.notifies(timeout=0, stop_after=10_000):
                    pass
                self._wake()

    def _wake(self) -> None:
        from events_app import outbox

        outbox.schedule_relay()


class OutboxListenerStep(bootsteps.StartStopStep):
    """Worker bootstep running one OutboxListener beside the consumer."""

    label = "outbox listener"

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.listener: OutboxListener | None = None

    def start(self, parent: Any) -> None:
        if parent.app.conf.task_always_eager:
            return
        self.listener = OutboxListener()
        self.listener.start()

    def stop(self, parent: Any) -> None:
        if self.listener is not None:
            self.listener.stop()
            self.listener = None

    shutdown = stop
