"""Benchmark: outbox -> DynamoDB Local throughput, batched relay vs one put per event.

Fills the outbox with N realistic events (default 5,000: task and comment
events of a few users across matters), then relays them twice into fresh
tables of its own DynamoDB Local (in memory, unless DYNAMODB_ENDPOINT_URL is
set), measuring events per second from the first read of the outbox to the
last row marked delivered:

- batched: the real relay (`relay.sweep`): batches of OUTBOX_BATCH_SIZE rows
  locked with SKIP LOCKED, stored with `store.put_events` (many events and
  their merged counter updates per TransactWriteItems), rows marked in one
  UPDATE per batch;
- single: the same rows, one `put_event_single` transaction and one
  row update per event, as a relay without batching would do.

Both store and count every event the same way (conditional put + counters);
the bus has no subscribers during the run, so only storing is timed.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/hl_relay_bench \
        .venv/bin/python bench/relay_throughput.py [--events 5000] [--rounds 2]

After a warm-up of both paths, the two alternate for `--rounds` rounds on
fresh tables; the medians are reported.

The last line printed is one JSON object:
{"batched_eps": ..., "single_eps": ..., "speedup": ...}
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import statistics
import sys
import time
import uuid
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hivelight.settings")
os.environ.setdefault(
    "DATABASE_URL", "postgres://postgres@127.0.0.1:5432/hl_relay_bench"
)
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ["CELERY_TASK_ALWAYS_EAGER"] = "1"


from hivelight.serve import ensure_database  # noqa: E402

if os.environ["DATABASE_URL"].startswith("postgres"):
    ensure_database(os.environ["DATABASE_URL"])

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from events_app import bus, envelope, store  # noqa: E402
from events_app.models import OutboxEvent  # noqa: E402
from events_app.outbox import enqueue, relay  # noqa: E402
from events_app.store import writes  # noqa: E402
from events_app.store.local import DynamoDBLocal  # noqa: E402

NAMES = [
    "task.updated",
    "task.started",
    "task.completed",
    "task.assigned",
    "task.moved",
    "comment.added",
    "comment.edited",
]


def put_event_single(event: dict) -> bool:
    """The baseline: one event in its own transaction (False: already stored)."""
    result = writes.PutResult()
    writes._write_group([writes._prepare(event)], result)
    return bool(result.written)


def make_events(count: int, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    start = timezone.now() - dt.timedelta(days=30)
    events = []
    for i in range(count):
        actor = rng.randint(1, 8)
        task_id = rng.randint(1, 400)
        matter_id = task_id % 12 + 1
        name = rng.choice(NAMES)
        events.append(
            envelope.build(
                name=name,
                occurred_at=start + dt.timedelta(seconds=i * 37 + rng.random()),
                firm_id=1,
                actor={"id": actor, "name": f"Lawyer {actor}"},
                subject={"type": "task", "id": task_id, "label": f"Task {task_id}"},
                matter={"id": matter_id, "label": f"HV-{matter_id:03d} Matter"},
                changes={"title": [f"Draft {i}", f"Draft {i + 1}"]},
                context={"source": "web", "request_id": uuid.uuid4().hex},
            )
        )
    return events


def fresh_tables(label: str) -> None:
    settings.EVENT_STORE = {
        **settings.EVENT_STORE,
        "TABLE_PREFIX": f"bench_relay_{label}_{uuid.uuid4().hex[:6]}_",
    }
    store.reset_client()
    store.ensure_tables()


def fill_outbox(events: list[dict]) -> None:
    """A fresh outbox of `events`: emptied and vacuumed first, so neither path
    scans the dead rows an earlier run left behind."""
    OutboxEvent.objects.all().delete()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM ANALYZE {OutboxEvent._meta.db_table}")
    with transaction.atomic():
        for i in range(0, len(events), 500):
            enqueue.enqueue(events[i : i + 500])
        connection.run_on_commit = []  # nobody relays behind the benchmark's back
    assert OutboxEvent.objects.filter(dispatched_at__isnull=True).count() == len(events)


def run_batched() -> float:
    started = time.perf_counter()
    result = relay.sweep(ignore_backoff=True, max_seconds=3600)
    elapsed = time.perf_counter() - started
    assert result.failed == 0, result.errors
    return elapsed


def run_single() -> float:
    started = time.perf_counter()
    while True:
        with transaction.atomic():
            row = (
                OutboxEvent.objects.filter(dispatched_at__isnull=True)
                .select_for_update(skip_locked=True)
                .order_by("seq")
                .first()
            )
            if row is None:
                break
            put_event_single(row.payload)
            now = timezone.now()
            OutboxEvent.objects.filter(seq=row.seq).update(
                stored_at=now, dispatched_at=now
            )
    return time.perf_counter() - started


def stored_count() -> int:
    total = 0
    for user in range(1, 9):
        page = store.query_user_events(firm="f_1", user_id=user, limit=1000)
        total += len(page.items)
        while page.next_cursor:
            page = store.query_user_events(
                firm="f_1", user_id=user, limit=1000, cursor=page.next_cursor
            )
            total += len(page.items)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    server = None
    if not os.environ.get("DYNAMODB_ENDPOINT_URL"):
        server = DynamoDBLocal(max_heap_mb=512).start()
        settings.EVENT_STORE = {
            **settings.EVENT_STORE,
            "ENDPOINT_URL": server.endpoint_url,
        }
    saved_registry = dict(bus._registry)
    bus._registry.clear()
    try:
        events = make_events(args.events)
        print(f"{args.events} events; relay batch size {relay.batch_size()}")
        print(
            f"DynamoDB at {settings.EVENT_STORE['ENDPOINT_URL']}, {connection.vendor}"
        )

        # DynamoDB Local is a JVM: warm it up with both paths before timing,
        # then alternate the two so neither gets the warmer server.
        for label, run in (("warm_b", run_batched), ("warm_s", run_single)):
            fresh_tables(label)
            fill_outbox(events[:300])
            run()
        batched: list[float] = []
        single: list[float] = []
        for round_ in range(args.rounds):
            for label, run, times in (
                ("batched", run_batched, batched),
                ("single", run_single, single),
            ):
                fresh_tables(f"{label}{round_}")
                fill_outbox(events)
                times.append(run())
                assert stored_count() == args.events
                eps = args.events / times[-1]
                print(f"round {round_ + 1} {label}: {eps:.1f} events/s")
        batched_s = statistics.median(batched)
        single_s = statistics.median(single)
    finally:
        bus._registry.update(saved_registry)
        OutboxEvent.objects.all().delete()
        if server is not None:
            server.stop()

    batched_eps = args.events / batched_s
    single_eps = args.events / single_s
    print(f"batched relay: {batched_s:8.2f} s  {batched_eps:8.1f} events/s (median)")
    print(f"one per event: {single_s:8.2f} s  {single_eps:8.1f} events/s (median)")
    print(f"speedup: {batched_eps / single_eps:.2f}x (target >= 4x)")
    print(
        json.dumps(
            {
                "batched_eps": round(batched_eps, 1),
                "single_eps": round(single_eps, 1),
                "speedup": round(batched_eps / single_eps, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
