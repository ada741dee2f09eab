"""Webhooks end to end: a committed change, real Celery workers, a real receiver.

PostgreSQL, Redis, DynamoDB Local and worker subprocesses: the change's NOTIFY
wakes the relay in a worker, the relay stores the event and writes its
deliveries, and the `outbound` queue's worker sends them to a receiver on
loopback that verifies each signature with the standard's verifier.
"""

from __future__ import annotations

import statistics
import time

import pytest

from events_app.models import OutboxEvent, WebhookDelivery
from tests.events_app.bus_helpers import outbox_mark
from tests.events_app.webhooks.receiver import Receiver, Reply
from tests.fixtures.factories import World, make_task

pytestmark = pytest.mark.services


def created_ids(mark: int) -> list[str]:
    return [
        str(pk)
        for pk in OutboxEvent.objects.filter(seq__gt=mark, name="task.created")
        .order_by("seq")
        .values_list("event_id", flat=True)
    ]


def stored_at(event_ids: list[str]) -> dict[str, float]:
    rows = OutboxEvent.objects.filter(event_id__in=event_ids)
    return {str(r.event_id): r.stored_at.timestamp() for r in rows if r.stored_at}


def test_a_change_reaches_the_receiver_through_a_real_worker(
    event_store, celery_worker, world: World, receiver: Receiver, endpoint_at
) -> None:
    endpoint_at(world.dora, patterns=["task.*"])
    mark = outbox_mark()

    task = make_task(world.matter, "File the defence", actor=world.alice)

    [event_id] = created_ids(mark)
    celery_worker.wait_for(
        lambda: event_id in receiver.processed, timeout=20, message="delivered"
    )
    payload = receiver.processed[event_id]
    assert payload["name"] == "task.created"
    assert payload["subject"] == {
        "type": "task",
        "id": task.pk,
        "label": "File the defence",
    }
    assert all(r.verified for r in receiver.requests)
    delivery = WebhookDelivery.objects.get(event_id=event_id)
    celery_worker.wait_for(
        lambda: WebhookDelivery.objects.get(pk=delivery.pk).status == "delivered",
        message="delivery recorded",
    )


def test_a_receiver_that_fails_then_recovers_gets_every_event_exactly_once(
    event_store, celery_worker_factory, world: World, receiver: Receiver, endpoint_at
) -> None:
    """Down for a few seconds, then too slow once (it did the work, but answered
    after the read timeout, so the attempt failed and was repeated): every
    event is processed once, the repeat is recognised by its id."""
    worker = celery_worker_factory(
        extra_env={"WEBHOOK_RETRY_BASE_SECONDS": "0.3", "WEBHOOK_READ_TIMEOUT": "1"}
    )
    endpoint_at(world.dora, patterns=["task.created"])
    down_until = time.monotonic() + 3
    slow_once: list[int] = []

    def reply(request, n: int) -> Reply:
        if time.monotonic() < down_until:
            return Reply(status=503, body=b"upgrading")
        if not slow_once:
            slow_once.append(n)
            return Reply(delay=2.5, process_before_delay=True)
        return Reply()

    receiver.reply = reply
    mark = outbox_mark()
    for n in range(20):
        make_task(world.matter, f"Bundle {n}", actor=world.alice)
    ids = created_ids(mark)
    assert len(ids) == 20

    worker.wait_for(
        lambda: (
            WebhookDelivery.objects.filter(event_id__in=ids, status="delivered").count()
            == 20
        ),
        timeout=60,
        message="all 20 delivered",
    )

    assert set(receiver.processed) == set(ids)
    assert sum(receiver.duplicates.values()) == 1
    assert all(r.verified for r in receiver.requests)
    failed_attempts = [
        a.error
        for d in WebhookDelivery.objects.filter(event_id__in=ids)
        for a in d.attempt_log.all()
        if not a.succeeded
    ]
    assert "HTTP 503 Service Unavailable" in failed_attempts
    assert "No full answer within 1 s." in failed_attempts


def test_a_slow_receiver_slows_neither_the_relay_nor_another_endpoint(
    event_store, celery_worker_factory, world: World, receiver: Receiver, endpoint_at
) -> None:
    """Production's layout: a relay worker on `celery`, a thread pool on
    `outbound`. One receiver takes 1.5 s per request; the other endpoint's
    deliveries stay on time and the relay's pace is that of a baseline run."""
    relay_worker = celery_worker_factory(queues=("celery",))
    celery_worker_factory(queues=("outbound",), pool="threads", concurrency=4)
    endpoint_at(world.dora, "/slow", patterns=["task.created"])
    endpoint_at(world.dora, "/fast", patterns=["task.created"])
    slow = {"on": False}
    receiver.reply = lambda request, n: Reply(
        delay=1.5 if request.path == "/slow" and slow["on"] else 0
    )

    def run(count: int) -> tuple[list[float], list[float], list[str]]:
        mark = outbox_mark()
        for n in range(count):
            make_task(world.matter, f"Letter {n}", actor=world.alice)
        ids = created_ids(mark)
        relay_worker.wait_for(
            lambda: len([i for i in ids if i in fast_times()]) == count,
            timeout=30,
            message="the fast endpoint's deliveries",
        )
        rows = OutboxEvent.objects.filter(event_id__in=ids)
        relay_lag = [(r.dispatched_at - r.created_at).total_seconds() for r in rows]
        stored = stored_at(ids)
        fast = fast_times()
        on_time = [fast[i] - stored[i] for i in ids]
        return relay_lag, on_time, ids

    def fast_times() -> dict[str, float]:
        with receiver.lock:
            return {
                r.webhook_id: r.received_at_wall
                for r in receiver.requests
                if r.path == "/fast"
            }

    baseline_relay, baseline_fast, _ = run(8)
    slow["on"] = True
    started = time.time()
    relay_lag, fast_lag, ids = run(12)
    slow_done = relay_worker.wait_for(
        lambda: (
            len({r.webhook_id for r in receiver.on("/slow")} & set(ids)) == 12
            and time.time()
        ),
        timeout=60,
        message="the slow endpoint's deliveries",
    )

    # The slow endpoint alone needs 9 s for these 12: a relay held up by it
    # would lag by that much; a busy machine's noise is well under 3 s.
    assert max(relay_lag) <= max(baseline_relay) + 3.0, (relay_lag, baseline_relay)
    assert max(fast_lag) <= max(statistics.median(baseline_fast) * 3, 2.0), (
        fast_lag,
        baseline_fast,
    )
    # The slow endpoint really was slow: 12 requests, at most two at a time.
    assert slow_done - started >= 12 * 1.5 / 2 - 1
