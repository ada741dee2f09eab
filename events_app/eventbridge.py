"""Amazon EventBridge: every stored event also put on a bus, when configured.

With EVENTBRIDGE_BUS_NAME set, `forward` (a bus target, in the relay's
transaction) writes an `EventBridgeEntry` per event; after the commit a
Celery task (`publish`, also run by beat as the sweeper) puts the due entries
on the bus, ten per PutEvents call (the API's limit), as

    Source "hivelight", DetailType the event name, Detail the envelope
    (minus `context.client_id`), Time the event's time.

The relay never waits for AWS: it only writes rows. Each call's rows are
locked (`SKIP LOCKED`) while it runs, so two publishers never send the same
entry at once. Entries EventBridge refused (the whole call, or some entries
of it: `FailedEntryCount`) get an attempt, their error and a backoff, and go
again later; nothing is dropped. A publisher killed mid-call rolls its rows
back, so they are sent again: at least once, never at most once.
EventBridge's own event id differs per put; the envelope's `id` is the one
to de-duplicate on.

This module and `store/client.py` are the ones that import boto3.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from events_app import envelope
from events_app.models import EventBridgeEntry
from events_app.outbox.wakeup import celery_eager
from hivelight.celery import app

logger = logging.getLogger(__name__)

PUBLISH_TASK = "events_app.tasks.eventbridge_publish"
SOURCE = "hivelight"
BATCH = 10  # PutEvents takes at most ten entries
MAX_BACKOFF_SECONDS = 600

_client_lock = threading.Lock()
_clients: dict[tuple[str, str], Any] = {}


def enabled() -> bool:
    return bool(settings.EVENTBRIDGE_BUS_NAME)


def client() -> Any:
    """One boto3 client per (region, endpoint), shared by threads."""
    key = (settings.EVENTBRIDGE_REGION, settings.EVENTBRIDGE_ENDPOINT_URL)
    with _client_lock:
        if key not in _clients:
            _clients[key] = boto3.client(
                "events",
                region_name=settings.EVENTBRIDGE_REGION,
                endpoint_url=settings.EVENTBRIDGE_ENDPOINT_URL or None,
                config=Config(
                    connect_timeout=2,
                    read_timeout=5,
                    retries={"total_max_attempts": 2, "mode": "standard"},
                ),
            )
        return _clients[key]


def reset_client() -> None:
    with _client_lock:
        _clients.clear()


def backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(seconds=min(2 ** max(attempts - 1, 0) * 5, MAX_BACKOFF_SECONDS))


# --- the bus target ------------------------------------------------------------


def forward(events: list[dict[str, Any]]) -> None:
    """Write the batch's entries (in the relay's transaction); publish after it."""
    if not enabled() or not events:
        return
    now = timezone.now()
    EventBridgeEntry.objects.bulk_create(
        [
            EventBridgeEntry(
                event_id=event["id"],
                payload=envelope.public(event),
                created_at=now,
                next_attempt_at=now,
            )
            for event in events
        ],
        ignore_conflicts=True,
    )
    transaction.on_commit(_publish_soon)


def _publish_soon() -> None:
    if celery_eager():
        # Inline Celery would put the events from inside the request; the
        # sweeper (beat) sends them instead.
        return
    try:
        app.signature(PUBLISH_TASK).delay()
    except Exception:
        logger.warning("EventBridge publish not queued", exc_info=True)


# --- publishing ----------------------------------------------------------------


@dataclass
class PublishResult:
    sent: int = 0
    failed: int = 0
    calls: int = 0
    errors: list[str] = field(default_factory=list)


def entry_of(payload: dict[str, Any]) -> dict[str, Any]:
    """The PutEvents entry of one envelope."""
    return {
        "Source": SOURCE,
        "DetailType": payload["name"],
        "Detail": json.dumps(payload, separators=(",", ":"), ensure_ascii=False),
        "Time": envelope.parse_instant(payload["occurred_at"]),
        "EventBusName": settings.EVENTBRIDGE_BUS_NAME,
    }


def publish(*, max_calls: int = 500) -> PublishResult:
    """Put due entries on the bus, ten per call, until none is due.

    Stops at the first call that fails as a whole (AWS unreachable,
    throttled): its entries wait for their backoff.
    """
    result = PublishResult()
    if not enabled():
        return result
    while result.calls < max_calls:
        with transaction.atomic():
            rows = list(
                EventBridgeEntry.objects.filter(
                    sent_at__isnull=True, next_attempt_at__lte=timezone.now()
                )
                .select_for_update(skip_locked=True)
                .order_by("seq")[:BATCH]
            )
            if not rows:
                return result
            result.calls += 1
            if not _put(rows, result):
                return result


def _put(rows: list[EventBridgeEntry], result: PublishResult) -> bool:
    """One PutEvents call for `rows`; False if the whole call failed."""
    now = timezone.now()
    try:
        response = client().put_events(Entries=[entry_of(r.payload) for r in rows])
    except Exception as exc:
        message = f"{type(exc).__name__}: {exc}"[:500]
        logger.warning("EventBridge PutEvents failed: %s", message)
        for row in rows:
            _failed(row, message, now)
        EventBridgeEntry.objects.bulk_update(
            rows, ["attempts", "last_error", "next_attempt_at"]
        )
        result.failed += len(rows)
        result.errors.append(message)
        return False
    sent, failed = [], []
    # Entries come back in the order sent; a failed one has an ErrorCode.
    for row, answer in zip(rows, response.get("Entries", []), strict=False):
        if answer.get("ErrorCode"):
            message = f"{answer['ErrorCode']}: {answer.get('ErrorMessage', '')}"
            _failed(row, message[:500], now)
            failed.append(row)
        else:
            row.sent_at = now
            row.last_error = ""
            sent.append(row)
    answered = len(response.get("Entries", []))
    for row in rows[answered:]:  # fewer answers than entries: not known sent
        _failed(row, "No answer for this entry.", now)
        failed.append(row)
    if sent:
        EventBridgeEntry.objects.bulk_update(sent, ["sent_at", "last_error"])
    if failed:
        EventBridgeEntry.objects.bulk_update(
            failed, ["attempts", "last_error", "next_attempt_at"]
        )
        result.errors.extend(r.last_error for r in failed)
    result.sent += len(sent)
    result.failed += len(failed)
    return True


def _failed(row: EventBridgeEntry, message: str, now: dt.datetime) -> None:
    row.attempts += 1
    row.last_error = message
    row.next_attempt_at = now + backoff(row.attempts)
