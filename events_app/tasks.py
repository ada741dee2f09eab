"""Celery tasks of the pipeline: relay, sweeper, and one task per handler run.

Tasks take ids or plain event dicts, never model instances, and are safe to
run twice.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

from events_app import bus, outbox

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, ignore_result=True)
def relay_outbox() -> dict[str, int]:
    """Relay due outbox rows; re-arm shortly if some waited on an older event."""
    outbox.disarm_relay()
    result = outbox.sweep(max_seconds=20.0)
    if result.held_back:
        relay_outbox.apply_async(countdown=1)
    return {"stored": result.stored, "dispatched": result.dispatched}


@shared_task(acks_late=True, ignore_result=True)
def outbox_sweep(ignore_backoff: bool = False) -> dict[str, int]:
    """Periodic (beat): relay rows that were never delivered."""
    result = outbox.sweep(ignore_backoff=ignore_backoff)
    if result.handled:
        logger.info(
            "outbox sweep: stored %d, duplicates %d, dispatched %d, failed %d",
            result.stored,
            result.duplicates,
            result.dispatched,
            result.failed,
        )
    return {"stored": result.stored, "dispatched": result.dispatched}


@shared_task(
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
