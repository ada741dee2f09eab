"""Benchmark: sealing and verifying a firm's audit trail of 100,000 events.

Writes 100,000 events of one firm (40 people, spread over 30 London days of
March 2023) into DynamoDB Local (its own in-memory instance, unless
DYNAMODB_ENDPOINT_URL is set) under a fresh table prefix, then times, in
the same run:

- read: every event of the range read through the firm index, as sealing
  and verification read them (the baseline: the store's share; timed after
  one untimed read that warms DynamoDB Local up);
- seal: `sealing.seal_trail` from an empty chain to the last day (reads,
  canonical JSON and SHA-256 per event, the trees, the conditional puts);
- verify: `verify.verify_trail` over the whole chain (reads again, hashes
  again, compares per event), which must find nothing.

    .venv/bin/python bench/seal.py [--events N] [--days N]

The last line printed is one JSON object:
{"events": ..., "seal_s": ..., "verify_s": ...}
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hivelight.settings")
# Only this script's own tables are touched; keep boto3's log line quiet.
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

from events_app import store  # noqa: E402
from events_app.envelope import isoformat, uuid7  # noqa: E402
from events_app.seals import sealing, verify  # noqa: E402
from events_app.store.local import DynamoDBLocal  # noqa: E402

FIRM = "f_bench"
TZ = "Europe/London"
FIRST_DAY = dt.date(2023, 3, 1)
NAMES = [
    "task.updated",
    "task.moved",
    "comment.added",
    "task.started",
    "task.completed",
    "task.created",
    "task.assigned",
    "milestone.progress_changed",
    "user.logged_in",
]


def make_events(count: int, days: int, seed: int = 15) -> list[dict[str, Any]]:
    """`count` sealable events (no page views) over `days` London days."""
    rng = random.Random(seed)
    start = dt.datetime.combine(FIRST_DAY, dt.time(), dt.UTC)
    span = days * 86400 - 3600 * 2  # March 2023 in London is UTC until the 26th
    events = []
    for _ in range(count):
        moment = start + dt.timedelta(seconds=rng.random() * span)
        task = rng.randrange(1, 2000)
        person = rng.randrange(1, 41)
        events.append(
            {
                "id": uuid7(moment),
                "name": rng.choice(NAMES),
                "version": 1,
                "occurred_at": isoformat(moment),
                "firm": FIRM,
                "actor": {"id": person, "name": f"Person {person}"},
                "subject": {"type": "task", "id": task, "label": f"Task {task}"},
                "matter": {"id": task % 60, "label": f"Matter {task % 60}"},
                "changes": {"status": ["IN_PROGRESS", "DONE"]},
                "context": {"source": "web", "request_id": uuid.uuid4().hex},
            }
        )
    return events


def write_all(events: list[dict[str, Any]], threads: int, chunk: int) -> float:
    chunks = [events[i : i + chunk] for i in range(0, len(events), chunk)]
    done = 0
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for result in pool.map(store.put_events, chunks):
            done += len(result.written) + len(result.duplicates)
            if done % 20_000 < chunk:
                rate = done / (time.perf_counter() - started)
                print(f"  written {done:>7,} events ({rate:,.0f}/s)", flush=True)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=30)
    # put_events keeps eight transactions in flight itself; more writers only
    # collide on the 40 people's counter items (TransactionConflict).
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--chunk", type=int, default=2000)
    args = parser.parse_args()

    endpoint = os.environ.get("DYNAMODB_ENDPOINT_URL")
    server = None
    if not endpoint:
        server = DynamoDBLocal(max_heap_mb=1536)
        print("starting DynamoDB Local (in memory)...", flush=True)
        server.start()
        endpoint = server.endpoint_url
    settings.EVENT_STORE = {
        **settings.EVENT_STORE,
        "ENDPOINT_URL": endpoint,
        "TABLE_PREFIX": f"bench_{uuid.uuid4().hex[:8]}_",
    }
    store.reset_client()
    last_day = FIRST_DAY + dt.timedelta(days=args.days - 1)
    try:
        store.ensure_tables()
        print(f"store: {endpoint}, tables {', '.join(store.table_names())}")
        events = make_events(args.events, args.days)
        print(f"writing {len(events):,} events of one firm over {args.days} days...")
        seconds = write_all(events, args.threads, args.chunk)
        print(f"written in {seconds:.1f} s ({len(events) / seconds:,.0f} events/s)")

        start = dt.datetime.combine(FIRST_DAY, dt.time(), dt.UTC)
        end = dt.datetime.combine(last_day + dt.timedelta(days=1), dt.time(), dt.UTC)
        sealing.events_between(FIRM, start, end)  # warm up DynamoDB Local's JIT
        t0 = time.perf_counter()
        read = len(sealing.events_between(FIRM, start, end))
        read_s = time.perf_counter() - t0
        print(f"read (baseline): {read:,} events in {read_s:.2f} s", flush=True)

        t0 = time.perf_counter()
        run = sealing.seal_trail(firm=FIRM, tz=TZ, until=last_day)
        seal_s = time.perf_counter() - t0
        print(
            f"seal: {len(run.sealed)} seals over {run.events:,} events in "
            f"{seal_s:.2f} s ({run.events / seal_s:,.0f} events/s, "
            f"{seal_s / read_s:.2f}x the read)",
            flush=True,
        )

        t0 = time.perf_counter()
        report = verify.verify_trail(firm=FIRM)
        verify_s = time.perf_counter() - t0
        checked = sum(p.size for p in report.periods)
        print(
            f"verify: {len(report.periods)} seals, {checked:,} events in "
            f"{verify_s:.2f} s ({checked / verify_s:,.0f} events/s, "
            f"{verify_s / read_s:.2f}x the read): "
            f"{'ok' if report.ok else f'{report.findings} findings'}"
        )
        if run.events != len(events) or checked != len(events) or not report.ok:
            print("MISMATCH: not every event was sealed and verified", file=sys.stderr)
            return 1
        figures = {
            "events": run.events,
            "seal_s": round(seal_s, 2),
            "verify_s": round(verify_s, 2),
        }
    finally:
        try:
            store.delete_tables()
        finally:
            if server is not None:
                server.stop()
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
