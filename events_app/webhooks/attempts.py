"""One delivery's life: claim it, send it, record the attempt, retry or stop.

`deliver(delivery_id)` is what the Celery task runs; it is safe to run twice
and concurrently. Claiming takes a lease on the row (so a second copy of the
task finds it in flight and does nothing) and counts the endpoint's attempts
in flight (at most WEBHOOK_MAX_IN_FLIGHT: a slow receiver holds that many
workers, never all of them; the rest wait a moment and try again). The HTTP
request runs outside any transaction. Recording locks the rows again and
decides what comes next:

- 2xx: delivered. Anything else is a failed attempt.
- 410 Gone: the receiver asks to stop. The delivery fails and the endpoint is
  turned off.
- otherwise a retry after an exponential backoff with jitter (about three
  days over WEBHOOK_MAX_ATTEMPTS attempts). A round that ends with nothing
  succeeding on the endpoint since its first attempt turns the endpoint off.

Turning an endpoint off records `webhook.endpoint_disabled` (by the system)
in the same transaction; a reaction tells the firm's admins. A worker that
dies between sending and recording leaves the lease to lapse, and the
sweeper sends again: at least once, with the same `webhook-id`, as the
standard expects receivers to de-duplicate.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from events_app import context, envelope, names
from events_app.capture.records import record
from events_app.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from events_app.outbox.wakeup import celery_eager
from events_app.webhooks import delivery as http
from events_app.webhooks import signing
from hivelight.celery import app
from tasks_app.models import Matter

logger = logging.getLogger(__name__)

# Published by name: the task (events_app.tasks) sits above this package.
DELIVER_TASK = "events_app.tasks.deliver_webhook"
Status = WebhookDelivery.Status

# A retry due sooner than this is published with a countdown; a later one is
# left to the sweeper (Celery's countdown outlives no broker restart, and
# Redis redelivers unacknowledged messages after an hour).
COUNTDOWN_LIMIT = dt.timedelta(minutes=15)
# The sweeper publishes rows overdue by this much (their own task was lost).
SWEEP_GRACE = dt.timedelta(seconds=60)
SWEEP_LIMIT = 1000
# How long a delivery waits when its endpoint has enough attempts in flight
# (a run in flight usually sends it first, see `deliver`).
BUSY_WAIT_SECONDS = (1.0, 3.0)
# How long one task run goes on with its endpoint's next due deliveries.
DRAIN_SECONDS = 10.0
WALLED = (
    "Withheld: the matter is behind an ethical wall, and this endpoint does "
    "not take events of walled matters."
)
ENDPOINT_OFF = "Not sent: the endpoint is turned off."


def retry_delay(attempts: int) -> dt.timedelta:
    """The wait after the `attempts`-th failed attempt: doubling, capped, ±20 %."""
    base = settings.WEBHOOK_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0)
    seconds = min(base, settings.WEBHOOK_RETRY_MAX_SECONDS)
    return dt.timedelta(seconds=seconds * random.uniform(0.8, 1.2))


def schedule_span() -> dt.timedelta:
    """From the first attempt to the last, without jitter."""
    total = 0.0
    for attempt in range(1, settings.WEBHOOK_MAX_ATTEMPTS):
        base = settings.WEBHOOK_RETRY_BASE_SECONDS * 2 ** (attempt - 1)
        total += min(base, settings.WEBHOOK_RETRY_MAX_SECONDS)
    return dt.timedelta(seconds=total)


def lease_length() -> dt.timedelta:
    """Longer than any attempt can take (connect + the whole answer)."""
    seconds = settings.WEBHOOK_CONNECT_TIMEOUT + settings.WEBHOOK_READ_TIMEOUT
    return dt.timedelta(seconds=seconds + 30)


# --- publishing ------------------------------------------------------------------


def publish(delivery_id: int, *, countdown: float = 0) -> None:
    """Queue the delivery's task; a lost publish is the sweeper's to redo."""
    try:
        app.signature(DELIVER_TASK).apply_async(
            args=(delivery_id,), countdown=countdown or None
        )
    except Exception:
        logger.warning("webhook delivery %s not queued", delivery_id, exc_info=True)


def publish_after_commit(delivery_ids: list[int]) -> None:
    if delivery_ids:
        transaction.on_commit(lambda: [publish(pk) for pk in delivery_ids])


def _retry_after_commit(delivery_id: int, wait: dt.timedelta) -> None:
    """Publish a near retry with its countdown. Inline (eager) Celery would run
    it at once, ignoring the countdown: there it waits for the sweeper or a
    resend."""
    if wait <= COUNTDOWN_LIMIT and not celery_eager():
        seconds = wait.total_seconds()
        transaction.on_commit(lambda: publish(delivery_id, countdown=seconds))


# --- one attempt ---------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """What the request needs, read under the lock."""

    delivery_id: int
    url: str
    payload: dict[str, Any]
    message_id: str
    secrets: tuple[str, ...]
    lease_until: dt.datetime


def deliver(delivery_id: int, *, drain_seconds: float | None = None) -> str:
    """Make one attempt if the delivery is due; say what happened.

    While attempts succeed, the same run goes on with the endpoint's next due
    deliveries for up to `drain_seconds` (DRAIN_SECONDS): a slot the in-flight
    cap gives an endpoint keeps working through its backlog instead of each
    waiting delivery polling for a free slot. A failure ends the run: a
    receiver that is down is not sent the whole backlog at once.
    """
    outcome = _attempt(delivery_id)
    if outcome != Status.DELIVERED:
        return outcome
    endpoint_id = (
        WebhookDelivery.objects.filter(pk=delivery_id)
        .values_list("endpoint_id", flat=True)
        .first()
    )
    deadline = time.monotonic() + (
        DRAIN_SECONDS if drain_seconds is None else drain_seconds
    )
    while endpoint_id is not None and time.monotonic() < deadline:
        next_id = _next_due(endpoint_id)
        if next_id is None:
            break
        step = _attempt(next_id)
        if step not in (Status.DELIVERED, "in flight"):
            break
    return outcome


def _next_due(endpoint_id: int) -> int | None:
    return (
        WebhookDelivery.objects.filter(
            endpoint_id=endpoint_id,
            status=Status.PENDING,
            next_attempt_at__lte=timezone.now(),
            lease_until__isnull=True,
        )
        .order_by("next_attempt_at", "id")
        .values_list("pk", flat=True)
        .first()
    )


def _attempt(delivery_id: int) -> str:
    claim = _claim(delivery_id)
    if isinstance(claim, str):
        return claim
    body = json.dumps(claim.payload, separators=(",", ":"), ensure_ascii=False)
    started = timezone.now()
    headers = signing.headers(
        message_id=claim.message_id,
        at=started,
        body=body,
        secrets_in_use=claim.secrets,
    )
    result = http.post(claim.url, body=body.encode(), headers=headers)
    return _record(claim, result, started)


def _claim(delivery_id: int) -> Claim | str:
    endpoint_id = (
        WebhookDelivery.objects.filter(pk=delivery_id)
        .values_list("endpoint_id", flat=True)
        .first()
    )
    if endpoint_id is None:
        return "gone"
    now = timezone.now()
    # Read, not locked: every attempt of an endpoint locking its row would
    # queue them all behind each other. Only the delivery is locked, so two
    # copies of one task cannot both claim it.
    endpoint = WebhookEndpoint.objects.filter(pk=endpoint_id).first()
    if endpoint is None:
        return "gone"
    with transaction.atomic():
        row = WebhookDelivery.objects.select_for_update().filter(pk=delivery_id).first()
        if row is None:
            return "gone"
        if row.status != Status.PENDING:
            return row.status
        if row.lease_until is not None and row.lease_until > now:
            return "in flight"
        if row.next_attempt_at > now + dt.timedelta(seconds=1):
            return "not due"
        if not endpoint.is_enabled and not row.is_test:
            _give_up(row, ENDPOINT_OFF, now)
            return Status.FAILED
        if _withheld(row, endpoint):
            _give_up(row, WALLED, now)
            return Status.FAILED
        # Counted without a lock: two claims at the same instant may both pass,
        # so the cap is approximate, which is enough to share the workers.
        in_flight = WebhookDelivery.objects.filter(
            endpoint_id=endpoint.pk, status=Status.PENDING, lease_until__gt=now
        ).count()
        if in_flight >= settings.WEBHOOK_MAX_IN_FLIGHT:
            wait = dt.timedelta(seconds=random.uniform(*BUSY_WAIT_SECONDS))
            row.next_attempt_at = now + wait
            row.save(update_fields=["next_attempt_at"])
            _retry_after_commit(row.pk, wait)
            return "busy"
        row.lease_until = now + lease_length()
        row.save(update_fields=["lease_until"])
        secrets = [endpoint.secret]
        if (
            endpoint.previous_secret
            and endpoint.previous_secret_expires_at
            and endpoint.previous_secret_expires_at > now
        ):
            secrets.append(endpoint.previous_secret)
        return Claim(
            delivery_id=row.pk,
            url=endpoint.url,
            payload=row.payload,
            message_id=str(row.event_id),
            secrets=tuple(secrets),
            lease_until=row.lease_until,
        )


def _withheld(row: WebhookDelivery, endpoint: WebhookEndpoint) -> bool:
    """An event of a walled (or deleted) matter: never sent.

    Checked again at send time: a wall put up since the event was relayed
    still holds.
    """
    matter_id = (row.payload.get("matter") or {}).get("id")
    if matter_id is None:
        return False
    return not Matter.objects.filter(pk=matter_id, is_restricted=False).exists()


def _give_up(row: WebhookDelivery, reason: str, now: dt.datetime) -> None:
    row.status = Status.FAILED
    row.last_error = reason
    row.lease_until = None
    row.save(update_fields=["status", "last_error", "lease_until"])


def _record(claim: Claim, result: http.Result, started: dt.datetime) -> str:
    now = timezone.now()
    with transaction.atomic():
        endpoint_id = (
            WebhookDelivery.objects.filter(pk=claim.delivery_id)
            .values_list("endpoint_id", flat=True)
            .first()
        )
        if endpoint_id is None:  # the endpoint was deleted meanwhile
            return "gone"
        # A failure may change the endpoint (failing since, turned off): then
        # it is locked first, the order every writer of both uses (deleting
        # an endpoint locks it, then deletes its deliveries). A success only
        # clears `failing_since`, with a conditional UPDATE and no lock.
        endpoint = (
            WebhookEndpoint.objects.select_for_update(no_key=True)
            .filter(pk=endpoint_id)
            .first()
            if not result.succeeded
            else WebhookEndpoint.objects.filter(pk=endpoint_id).first()
        )
        row = (
            WebhookDelivery.objects.select_for_update()
            .filter(pk=claim.delivery_id)
            .first()
        )
        if endpoint is None or row is None:
            return "gone"
        WebhookAttempt.objects.create(
            delivery=row,
            started_at=started,
            duration_ms=result.duration_ms,
            status_code=result.status_code,
            succeeded=result.succeeded,
            response_excerpt=result.excerpt,
            error=result.error[:500],
        )
        if row.lease_until != claim.lease_until or row.status != Status.PENDING:
            # The lease lapsed and another attempt took over: it decides.
            return "superseded"
        if row.attempts == 0:
            row.first_attempt_at = started
        row.attempts += 1
        row.lease_until = None
        row.last_attempt_at = started
        row.last_status_code = result.status_code
        row.last_error = result.error[:500]
        outcome = _next_step(row, endpoint, result, now)
        row.save()
        return outcome


def _next_step(
    row: WebhookDelivery,
    endpoint: WebhookEndpoint,
    result: http.Result,
    now: dt.datetime,
) -> str:
    if result.succeeded:
        row.status = Status.DELIVERED
        row.delivered_at = now
        if not row.is_test and endpoint.failing_since is not None:
            WebhookEndpoint.objects.filter(
                pk=endpoint.pk, failing_since__isnull=False
            ).update(failing_since=None)
        return Status.DELIVERED
    if result.status_code == 410:
        row.status = Status.FAILED
        disable(endpoint, "The receiver answered 410 Gone: it asked for no more.")
        return Status.FAILED
    if not row.is_test and endpoint.failing_since is None:
        endpoint.failing_since = row.last_attempt_at
        endpoint.save(update_fields=["failing_since"])
    if row.is_test or row.attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
        row.status = Status.FAILED
        if (
            not row.is_test
            and endpoint.is_enabled
            and endpoint.failing_since is not None
            and row.first_attempt_at is not None
            and endpoint.failing_since <= row.first_attempt_at
        ):
            disable(
                endpoint,
                f"No delivery succeeded for {_span(now - endpoint.failing_since)} "
                f"({row.attempts} attempts of one event failed; last error: "
                f"{row.last_error or 'none'})",
            )
        return Status.FAILED
    wait = retry_delay(row.attempts)
    row.next_attempt_at = now + wait
    _retry_after_commit(row.pk, wait)
    return "retrying"


def _span(delta: dt.timedelta) -> str:
    hours = delta.total_seconds() / 3600
    if hours >= 48:
        return f"{hours / 24:.0f} days"
    if hours >= 1:
        return f"{hours:.0f} hours"
    return f"{max(delta.total_seconds() / 60, 1):.0f} minutes"


def disable(endpoint: WebhookEndpoint, reason: str) -> None:
    """Turn the endpoint off, and record why (the firm's admins hear of it).

    Runs inside the caller's transaction, with the endpoint locked.
    """
    if not endpoint.is_enabled:
        return
    endpoint.is_enabled = False
    endpoint.disabled_reason = reason[:300]
    endpoint.disabled_at = timezone.now()
    endpoint.save(update_fields=["is_enabled", "disabled_reason", "disabled_at"])
    with context.acting_as(None, source="system"):
        record(
            name=names.WEBHOOK_ENDPOINT_DISABLED,
            firm_id=endpoint.firm_id,
            actor=dict(envelope.SYSTEM_ACTOR),
            subject={
                "type": "webhook_endpoint",
                "id": endpoint.pk,
                "label": endpoint.label,
            },
            changes={
                "enabled": [True, False],
                "disabled_reason": ["", endpoint.disabled_reason],
            },
        )


# --- the sweeper -----------------------------------------------------------------


def sweep(*, grace: dt.timedelta = SWEEP_GRACE, limit: int = SWEEP_LIMIT) -> int:
    """Publish deliveries that are overdue: lost publishes, far retries, and
    attempts whose worker died (their lease lapsed). Returns how many."""
    now = timezone.now()
    due = list(
        WebhookDelivery.objects.filter(
            status=Status.PENDING, next_attempt_at__lte=now - grace
        )
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    if not due:
        return 0
    # Due now: the sweeper passes them by for another `grace` while queued.
    WebhookDelivery.objects.filter(pk__in=due).update(next_attempt_at=now)
    for pk in due:
        publish(pk)
    return len(due)
