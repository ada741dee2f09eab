"""Every Celery task of the pipeline: relay, sweepers, handlers, email,
webhooks, reminders, digests, seals, pruning.

Tasks take ids or plain event dicts, never model instances, and are safe to
run twice. Lower layers publish them by name (`wakeup.RELAY_TASK`,
`bus.RUN_HANDLER_TASK`, `notifications.services.EMAIL_TASK`,
`webhooks.attempts.DELIVER_TASK`, `eventbridge.PUBLISH_TASK`), so this
module is the only one that imports what each task runs.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from celery import shared_task
from django.core.exceptions import ObjectDoesNotExist

from events_app import bus, eventbridge, reminders, store
from events_app.notifications import digest, email
from events_app.outbox import relay, retention, wakeup
from events_app.seals import sealing
from events_app.webhooks import attempts

logger = logging.getLogger(__name__)


@shared_task(name=wakeup.RELAY_TASK, acks_late=True, ignore_result=True)
def relay_outbox() -> dict[str, int]:
    """Relay due outbox rows; re-arm shortly if some waited on an older event,
    and at once if the time budget ran out before the outbox was empty (a
    backlog: rows committed before anyone listened send no NOTIFY again).

    Inline (Celery eager) there is no "shortly": the rows wait for the next
    relay instead of this task calling itself until the older event goes.
    """
    wakeup.disarm_relay()
    result = relay.sweep(max_seconds=20.0)
    if wakeup.celery_eager():
        pass
    elif result.more:
        relay_outbox.delay()
    elif result.held_back:
        relay_outbox.apply_async(countdown=1)
    return {"stored": result.stored, "dispatched": result.dispatched}


@shared_task(name="events_app.tasks.outbox_sweep", acks_late=True, ignore_result=True)
def outbox_sweep(ignore_backoff: bool = False) -> dict[str, int]:
    """Periodic (beat): relay rows that were never delivered."""
    result = relay.sweep(ignore_backoff=ignore_backoff)
    if result.handled:
        logger.info(
            "outbox sweep: stored %d, duplicates %d, dispatched %d, failed %d",
            result.stored,
            result.duplicates,
            result.dispatched,
            result.failed,
        )
    return {"stored": result.stored, "dispatched": result.dispatched}


@shared_task(name="events_app.tasks.prune_pipeline", acks_late=True, ignore_result=True)
def prune_pipeline() -> dict[str, int]:
    """Periodic (beat): delete the pipeline's bookkeeping past its retention."""
    pruned = dataclasses.asdict(retention.prune())
    if any(pruned.values()):
        logger.info(
            "pruned %(outbox)d outbox rows, %(ledger)d ledger rows, "
            "%(eventbridge)d EventBridge entries",
            pruned,
        )
    return pruned


@shared_task(
    name=bus.RUN_HANDLER_TASK,
    bind=True,
    acks_late=True,
    ignore_result=True,
    max_retries=10,
    autoretry_for=(Exception,),
    retry_backoff=2,
    retry_backoff_max=300,
    retry_jitter=True,
)
def run_handler(self, handler_name: str, event: dict[str, Any]) -> bool:
    return bus.run(handler_name, event)


@shared_task(
    name=email.EMAIL_TASK,
    acks_late=True,
    ignore_result=True,
    max_retries=8,
    autoretry_for=(Exception,),
    retry_backoff=5,
    retry_backoff_max=600,
    retry_jitter=True,
)
def send_notification_email(notification_id: int) -> bool:
    """Email one notification, once (see `notifications.email.send`)."""
    return email.send(notification_id)


# Routed to the `outbound` queue (settings.CELERY_TASK_ROUTES). No Celery
# retry: `attempts.deliver` records each attempt and schedules the next.
@shared_task(name=attempts.DELIVER_TASK, acks_late=True, ignore_result=True)
def deliver_webhook(delivery_id: int) -> str:
    """One attempt of one webhook delivery, if it is due (see `attempts`)."""
    return attempts.deliver(delivery_id)


@shared_task(name="events_app.tasks.webhook_sweep", acks_late=True, ignore_result=True)
def webhook_sweep() -> int:
    """Periodic (beat): publish deliveries whose task was lost or is far due."""
    count = attempts.sweep()
    if count:
        logger.info("webhook sweep: published %d deliveries", count)
    return count


# Routed to the `outbound` queue too: a slow AWS holds no relay worker.
@shared_task(name=eventbridge.PUBLISH_TASK, acks_late=True, ignore_result=True)
def eventbridge_publish() -> dict[str, int]:
    """Put due entries on EventBridge (after each relay batch, and from beat)."""
    result = eventbridge.publish()
    return {"sent": result.sent, "failed": result.failed}


@shared_task(name="events_app.tasks.due_reminders", acks_late=True, ignore_result=True)
def due_reminders() -> dict[str, int]:
    """Periodic (beat): the due-date reminders that are due now."""
    run = reminders.send_due_reminders()
    return {"sent": run.sent, "already": run.already}


@shared_task(
    name="events_app.tasks.morning_digests", acks_late=True, ignore_result=True
)
def morning_digests() -> int:
    """Periodic (beat): each person's morning digest, in their own morning."""
    return digest.send_digests()


@shared_task(
    name="events_app.tasks.seal_audit_trails", acks_late=True, ignore_result=True
)
def seal_audit_trails() -> int:
    """Periodic (beat): seal every firm's closed periods, one task per firm."""
    firm_ids = sealing.firm_ids()
    for firm_id in firm_ids:
        seal_firm_audit_trail.delay(firm_id)
    return len(firm_ids)


@shared_task(
    name="events_app.tasks.seal_firm_audit_trail",
    acks_late=True,
    ignore_result=True,
    max_retries=5,
    autoretry_for=(store.StoreUnavailable,),
    retry_backoff=30,
    retry_backoff_max=600,
    retry_jitter=True,
)
def seal_firm_audit_trail(firm_id: int) -> int:
    """Seal one firm's closed periods (`sealing.seal_firm`); how many were sealed.

    Safe to run twice or on two workers at once: a period's seal is a
    conditional put, and the loser carries on from the winner's seal.
    """
    try:
        run = sealing.seal_firm(firm_id=firm_id)
    except ObjectDoesNotExist:
        return 0  # the firm was deleted since the beat listed it
    if run.sealed:
        logger.info(
            "sealed %s: %d periods to %s, %d events (%d late)",
            run.firm,
            len(run.sealed),
            run.sealed_through,
            run.events,
            len(run.late),
        )
    return len(run.sealed)
