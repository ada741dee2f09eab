"""Faults with a real worker: store down, broker down, worker killed mid-relay.

Each test makes at least 200 committed changes while something is broken,
lets it recover, and then holds the pipeline's promise: every event is in the
store exactly once, the activity counters equal the number of counted events,
and each handler applied each event once (ledger rows and notifications).
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Iterator

import pytest
import redis
from django.db import transaction
from django.utils import timezone

from events_app import names, store
from events_app.context import acting_as
from events_app.models import HandlerRun, Notification, OutboxEvent
from events_app.tasks import outbox_sweep
from hivelight.celery import app as celery_app
from tasks_app import services
from tests.events_app.outbox.test_relay import all_event_ids
from tests.fixtures.factories import make_task

pytestmark = pytest.mark.services

CHANGES = 200


def pending() -> int:
    return OutboxEvent.objects.filter(dispatched_at__isnull=True).count()


def make_changes(world, tasks, count: int = CHANGES) -> None:
    """`count` committed changes by Alice and Bob: renames and reassignments."""
    people = [world.alice, world.bob]
    for i in range(count):
        actor = people[i % 2]
        task = tasks[i % len(tasks)]
        with acting_as(actor, source="web"):
            if i % 4 == 3:
                assignee = world.carol if i % 8 == 3 else world.bob
                services.task_assign(actor=actor, task_id=task.pk, assignee=assignee)
            else:
                services.task_update(actor=actor, task_id=task.pk, title=f"Draft {i}")


def wait_for_handlers(worker) -> list[dict]:
    """Wait until the matter feed handler has run for every visible event."""
    visible = [
        payload
        for name, payload in OutboxEvent.objects.values_list("name", "payload")
        if payload.get("matter") and name not in names.HIDDEN_FROM_FEEDS
    ]
    runs = HandlerRun.objects.filter(handler__startswith="matter_activity:")
    # Handlers are tasks of their own, still draining after the relay is done.
    worker.wait_for(
        lambda: runs.count() >= len(visible), timeout=120, message="handlers"
    )
    return visible


def assert_delivered_exactly_once(world, worker) -> None:
    rows = list(OutboxEvent.objects.values_list("event_id", "name", "payload"))
    stored = all_event_ids()
    assert stored == Counter(str(event_id) for event_id, _, _ in rows), (
        "the store must hold every outbox event exactly once"
    )

    # Counters equal the events they count, per actor.
    today = timezone.now().date()
    expected: Counter = Counter()
    for _, name, payload in rows:
        if names.is_counted(name) and payload["actor"]["id"] is not None:
            expected[payload["actor"]["id"]] += 1
    for user_id, count in expected.items():
        counted = store.daily_counts(
            firm=f"f_{world.firm.pk}",
            user_id=user_id,
            start_date=today - dt.timedelta(days=2),
            end_date=today + dt.timedelta(days=2),
            tz="UTC",
        )
        assert sum(counted.values()) == count

    # Each handler applied each event once: the ledger and its effects.
    visible = wait_for_handlers(worker)
    runs = HandlerRun.objects.filter(handler__startswith="matter_activity:")
    assert runs.count() == len(visible)
    assigned = [
        payload
        for _, name, payload in rows
        if name == names.TASK_ASSIGNED
        and payload["changes"]["assignee"][1]["id"] != payload["actor"]["id"]
    ]
    assert assigned, "the scenario must include assignments to others"
    for payload in assigned:
        recipient = payload["changes"]["assignee"][1]["id"]
        assert (
            Notification.objects.filter(
                event_id=payload["id"], recipient_id=recipient
            ).count()
            == 1
        )


@pytest.fixture
def restartable_store(transactional_db, dynamodb_local, settings, tmp_path):
    """A DynamoDB Local of this test's own, on disk, that can be stopped and started."""
    from events_app.store.local import DynamoDBLocal, free_port

    port = free_port()
    data = tmp_path / "dynamodb"
    data.mkdir()
    server = DynamoDBLocal(port=port, db_path=str(data), max_heap_mb=256).start()
    settings.EVENT_STORE = {
        **settings.EVENT_STORE,
        "ENDPOINT_URL": server.endpoint_url,
        "TABLE_PREFIX": "faults_",
    }
    store.reset_client()
    store.ensure_tables()

    class Handle:
        current = server

        def stop(self) -> None:
            self.current.stop()

        def start(self) -> None:
            self.current = DynamoDBLocal(
                port=port, db_path=str(data), max_heap_mb=256
            ).start()
            store.reset_client()

    handle = Handle()
    try:
        yield handle
    finally:
        handle.current.stop()
        store.reset_client()


def test_store_down_while_changes_are_made_then_restarted_and_swept(
    restartable_store, celery_worker, world
):
    tasks = [make_task(world.matter, actor=world.alice) for _ in range(10)]
    celery_worker.wait_for(lambda: pending() == 0, timeout=60, message="first relay")

    restartable_store.stop()
    make_changes(world, tasks)
    celery_worker.wait_for(
        lambda: OutboxEvent.objects.filter(attempts__gt=0).exists(),
        timeout=60,
        message="relay attempts against the stopped store",
    )
    assert pending() >= CHANGES  # nothing was lost, nothing delivered

    restartable_store.start()
    outbox_sweep.delay(ignore_backoff=True)
    celery_worker.wait_for(lambda: pending() == 0, timeout=120, message="sweep")

    assert_delivered_exactly_once(world, celery_worker)


class PrivateRedis:
    """A redis-server of this test's own (nothing on disk), to stop and start."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            from tests.conftest import service_unavailable

            service_unavailable("the broker fault test needs redis-server")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


@pytest.fixture
def private_broker(settings) -> Iterator[PrivateRedis]:
    """Redis for this test's Celery app and worker only; request it before
    `celery_worker`, so the worker starts on it."""
    from events_app.store.local import free_port

    server = PrivateRedis(free_port())
    server.start()
    conf = celery_app.conf
    saved = conf.broker_url

    def reset_pools() -> None:
        celery_app._pool = None
        celery_app.amqp._producer_pool = None

    settings.REDIS_URL = conf.broker_url = server.url
    reset_pools()
    try:
        yield server
    finally:
        conf.broker_url = saved
        reset_pools()
        server.stop()


def test_broker_down_while_changes_commit_then_back(
    event_store, private_broker, celery_worker, world
):
    tasks = [make_task(world.matter, actor=world.alice) for _ in range(10)]
    celery_worker.wait_for(lambda: pending() == 0, timeout=60, message="first relay")
    # This Redis keeps nothing on disk: let the queued handler runs finish.
    wait_for_handlers(celery_worker)

    private_broker.stop()
    make_changes(world, tasks)  # every commit succeeds: none needs the broker
    # The worker heard each commit's NOTIFY but could not publish a relay.
    celery_worker.wait_for(
        lambda: "outbox relay not scheduled" in celery_worker.log(),
        timeout=30,
        message="the worker's listener tried to wake a relay",
    )
    assert pending() >= CHANGES

    private_broker.start()  # back, and empty: nothing queued survived
    outbox_sweep.delay()  # beat's next tick, once the worker has reconnected
    celery_worker.wait_for(lambda: pending() == 0, timeout=120, message="sweep")

    assert_delivered_exactly_once(world, celery_worker)


@pytest.fixture
def small_relay_batches(monkeypatch):
    """Many small relay batches, so a kill lands in the middle of the relay."""
    monkeypatch.setenv("OUTBOX_BATCH_SIZE", "5")


def test_worker_killed_mid_relay_then_restarted_and_swept(
    small_relay_batches, event_store, celery_worker, world
):
    tasks = [make_task(world.matter, actor=world.alice) for _ in range(10)]
    celery_worker.wait_for(lambda: pending() == 0, timeout=60, message="first relay")
    with transaction.atomic():  # one commit, one relay message for all of them
        make_changes(world, tasks, count=2 * CHANGES)

    celery_worker.wait_for(
        lambda: pending() < 2 * CHANGES,
        timeout=60,
        interval=0.01,
        message="relay under way",
    )
    celery_worker.kill()
    assert pending() > 0, "the kill must land mid-relay\n" + celery_worker.log()[-3000:]

    celery_worker.restart()
    outbox_sweep.delay(ignore_backoff=True)
    celery_worker.wait_for(lambda: pending() == 0, timeout=120, message="sweep")

    assert_delivered_exactly_once(world, celery_worker)
