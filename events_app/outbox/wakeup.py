"""Waking the relay when outbox rows commit.

On PostgreSQL with workers, the INSERT carries `pg_notify('hl_outbox')`
(delivered only if the transaction commits), so a web request pays no
broker round trip for its events: every worker runs one `OutboxListener`
(a bootstep) that LISTENs on its own connection and, per burst of
notifications, calls `schedule_relay()`. Elsewhere (SQLite, or Celery eager
as in `make run`) `enqueue` calls `schedule_relay()` after commit.

`schedule_relay()` coalesces: it publishes the relay task only if it can
set a short-lived Redis key, which a starting relay clears before it reads
the outbox. A relay queued but not yet started reads every row committed
meanwhile; the key's expiry covers a lost message, and the beat sweeper
covers everything else (a broker that was down, a worker that died).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import redis
from celery import bootsteps
from django.conf import settings
from django.db import connection

from hivelight.celery import app

logger = logging.getLogger(__name__)

NOTIFY_CHANNEL = "hl_outbox"
# Published by name: the task (events_app.tasks) sits above the outbox.
RELAY_TASK = "events_app.tasks.relay_outbox"
RELAY_ARMED_KEY = "hl:relay:armed"
RELAY_ARMED_MS = 2000
POLL_SECONDS = 1.0
RETRY_SECONDS = (1, 2, 5, 10)

_redis_clients: dict[str, Any] = {}


def celery_eager() -> bool:
    """Whether Celery runs tasks inline (no worker will hear a NOTIFY)."""
    return bool(app.conf["task_always_eager"])


def _redis() -> Any:
    """A plain redis-py client on REDIS_URL, one per process (pooled, fork-safe).

    Used instead of Django's cache API: this runs after many commits, and
    the cache layer cost several times the Redis round trip itself.
    """
    url = settings.REDIS_URL
    client = _redis_clients.get(url)
    if client is None:
        client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        _redis_clients[url] = client
    return client


def schedule_relay() -> None:
    """Publish a relay unless one is already queued and not yet started."""
    try:
        if not celery_eager() and not _redis().set(
            RELAY_ARMED_KEY, 1, nx=True, px=RELAY_ARMED_MS
        ):
            return
        app.signature(RELAY_TASK).delay()
    except Exception:  # broker down: the sweeper relays these rows later
        logger.warning(
            "outbox relay not scheduled; the sweeper will retry", exc_info=True
        )
        disarm_relay()


def disarm_relay() -> None:
    """Called by a starting relay: later wake-ups must publish again."""
    if celery_eager():
        return
    try:
        _redis().delete(RELAY_ARMED_KEY)
    except Exception:
        logger.warning("could not clear the relay key", exc_info=True)


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
        failures = 0
        while not self._stop.is_set():
            try:
                if connection.vendor != "postgresql":
                    logger.info("outbox listener off: the database is not PostgreSQL")
                    return
                self._listen()
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

    def _listen(self) -> None:
        connection.ensure_connection()
        raw = connection.connection
        raw.execute(f"LISTEN {connection.ops.quote_name(NOTIFY_CHANNEL)}")
        logger.info("outbox listener: listening on %s", NOTIFY_CHANNEL)
        schedule_relay()  # rows committed while nobody listened
        while not self._stop.is_set():
            heard = False
            for _ in raw.notifies(timeout=POLL_SECONDS, stop_after=1):
                heard = True
            if heard:
                # Drain the burst (one NOTIFY per committed transaction).
                for _ in raw.notifies(timeout=0, stop_after=10_000):
                    pass
                schedule_relay()


class OutboxListenerStep(bootsteps.StartStopStep):
    """Worker bootstep running one OutboxListener beside the consumer.

    A thread in a prefork parent hands every child forked while it runs
    whatever lock it held at that instant. One run of the fan-out benchmark
    hung for good so: the listener's first wake-up was connecting to Redis
    (getaddrinfo importing `encodings.idna`) while the pool forked, and the
    child waited on that module's import lock at its first Redis call. So
    the step starts after the pool has forked its processes, and the first
    wake-up is sent from the main thread (which forks), importing all a
    wake-up needs before the thread exists; a child forked later, to
    replace one, finds nothing half-imported.
    """

    label = "outbox listener"
    requires = ("celery.worker.components:Pool",)

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.listener: OutboxListener | None = None

    def start(self, parent: Any) -> None:
        if parent.app.conf.task_always_eager:
            return
        schedule_relay()  # rows committed while no worker listened
        self.listener = OutboxListener()
        self.listener.start()

    def stop(self, parent: Any) -> None:
        if self.listener is not None:
            self.listener.stop()
            self.listener = None

    shutdown = stop
