"""Benchmark: a year of activity calendar from counters vs from every event.

Writes 100,000 events of one user spread over 2023 into DynamoDB Local (its
own in-memory instance, unless DYNAMODB_ENDPOINT_URL is set) under a fresh
table prefix, then times, in the same run, `store.daily_counts` (the
counters: one small projected item per UTC day) against
`naive_counts.naive_daily_counts` (the seed's method: query every event of the year
with a projection and count per local day). Both must give the same days.

    .venv/bin/python bench/calendar_query.py [--events N] [--reps N]

Then times every calendar filter of `names.CALENDAR_FILTERS` as the pages
read it (the filter's own counter series: `calendar_filter=`), each checked
equal to the same filter summed from name series at read time (timed too,
for comparison), and a matter's calendar (`matter_daily_counts`).

The last line printed is one JSON object:
{"counters_p50_ms": ..., "naive_p50_ms": ..., "speedup": ...,
 "filter_p50_ms": {key: ...}, "slowest_filter_p50_ms": ...,
 "matter_p50_ms": ..., "load_average": [1, 5, 15 min]}
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
from collections.abc import Callable
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

from bench.naive_counts import naive_daily_counts  # noqa: E402
from events_app import names, store  # noqa: E402
from events_app.envelope import isoformat, uuid7  # noqa: E402
from events_app.store.local import DynamoDBLocal  # noqa: E402

FIRM = "f_bench"
USER_ID = 42
YEAR = 2023
# A plausible mix for a busy lawyer; task.viewed is stored but never counted.
NAME_WEIGHTS = {
    "task.updated": 20,
    "task.moved": 12,
    "comment.added": 14,
    "task.started": 8,
    "task.completed": 8,
    "task.created": 6,
    "task.assigned": 6,
    "task.status_changed": 4,
    "comment.edited": 3,
    "task.unassigned": 2,
    "task.reopened": 1,
    "task.milestone_changed": 2,
    "milestone.progress_changed": 3,
    "milestone.completed": 1,
    "user.logged_in": 5,
    "user.logged_out": 4,
}


def make_events(count: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    names = list(NAME_WEIGHTS)
    weights = list(NAME_WEIGHTS.values())
    start = dt.datetime(YEAR, 1, 1, tzinfo=dt.UTC)
    seconds = (dt.datetime(YEAR + 1, 1, 1, tzinfo=dt.UTC) - start).total_seconds()
    instants = sorted(
        start + dt.timedelta(seconds=rng.random() * seconds) for _ in range(count)
    )
    events = []
    for moment in instants:
        task = rng.randrange(1, 400)
        events.append(
            {
                "id": uuid7(moment),
                "name": rng.choices(names, weights)[0],
                "version": 1,
                "occurred_at": isoformat(moment),
                "firm": FIRM,
                "actor": {"id": USER_ID, "name": "Bob"},
                "subject": {"type": "task", "id": task, "label": f"Task {task}"},
                "matter": {"id": task % 25, "label": f"Matter {task % 25}"},
                "changes": {"status": ["IN_PROGRESS", "DONE"]},
                "context": {"source": "web", "request_id": uuid.uuid4().hex},
            }
        )
    return events


def write_all(events: list[dict[str, Any]], threads: int, chunk: int) -> float:
    """Write events in time-ordered chunks from a few threads; return seconds."""
    chunks = [events[i : i + chunk] for i in range(0, len(events), chunk)]
    done = 0
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for result in pool.map(store.put_events, chunks):
            done += len(result.written) + len(result.duplicates)
            if done % 10_000 < chunk:
                rate = done / (time.perf_counter() - started)
                print(f"  written {done:>7,} events ({rate:,.0f}/s)", flush=True)
    return time.perf_counter() - started


def timed(fn: Callable[[], Any], reps: int) -> tuple[list[float], Any]:
    samples = []
    result = None
    for _ in range(reps):
        t0 = time.perf_counter()
        result = fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return samples, result


def patient(fn: Callable[[], Any], tries: int = 3) -> Callable[[], Any]:
    """`fn`, tried again when the store times out (its time counts)."""

    def call() -> Any:
        for attempt in range(tries):
            try:
                return fn()
            except store.StoreUnavailable:
                if attempt == tries - 1:
                    raise
                print("  (store timed out; trying again)", flush=True)
        return None

    return call


def describe(label: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
    return (
        f"{label:<34} p50 {statistics.median(samples):8.1f} ms   "
        f"min {ordered[0]:8.1f}   p90 {p90:8.1f}   n={len(samples)}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=21, help="counter repetitions")
    parser.add_argument("--naive-reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=3)
    parser.add_argument("--chunk", type=int, default=500)
    args = parser.parse_args()

    endpoint = os.environ.get("DYNAMODB_ENDPOINT_URL")
    server = None
    if not endpoint:
        # Matter and filter counters hold ~3x the items of a person's alone.
        server = DynamoDBLocal(max_heap_mb=2048)
        print("starting DynamoDB Local (in memory)...", flush=True)
        server.start()
        endpoint = server.endpoint_url
    settings.EVENT_STORE = {
        **settings.EVENT_STORE,
        "ENDPOINT_URL": endpoint,
        "TABLE_PREFIX": f"bench_{uuid.uuid4().hex[:8]}_",
        # The naive path pages through 100,000 items; a loaded machine's
        # DynamoDB Local can take longer than a request's 10 s over a page.
        "READ_TIMEOUT": 120,
    }
    store.reset_client()
    try:
        store.ensure_tables()
        print(f"store: {endpoint}, tables {', '.join(store.table_names())}")
        events = make_events(args.events)
        print(f"writing {len(events):,} events of one user over {YEAR}...", flush=True)
        seconds = write_all(events, args.threads, args.chunk)
        print(f"written in {seconds:.1f} s ({len(events) / seconds:,.0f} events/s)")

        year = {"start_date": dt.date(YEAR, 1, 1), "end_date": dt.date(YEAR, 12, 31)}
        user = {"firm": FIRM, "user_id": USER_ID}
        tz = "Europe/London"

        def counters() -> dict[str, int]:
            return store.daily_counts(tz=tz, **user, **year)

        def naive() -> dict[str, int]:
            return naive_daily_counts(tz=tz, **user, **year)

        # Warm up the counters path (DynamoDB Local's JIT, connections, zone
        # caches). The naive path needs none: each run reads 100,000 items.
        for _ in range(5):
            counters()
        counter_samples, counter_result = timed(counters, args.reps)
        print(describe("counters (daily_counts)", counter_samples), flush=True)

        extras = [
            ("counters, Asia/Kathmandu", {"tz": "Asia/Kathmandu"}),
            ("counters, tasks only (task.)", {"tz": tz, "name_prefix": "task."}),
            (
                "counters, completed+started",
                {"tz": tz, "names": {"task.completed", "task.started"}},
            ),
        ]
        for label, kwargs in extras:
            samples, _ = timed(
                lambda kwargs=kwargs: store.daily_counts(**user, **year, **kwargs),
                args.reps,
            )
            print(describe(label, samples))

        # Each filter as the calendar pages read it: its own series.
        filter_p50: dict[str, float] = {}
        for key, flt in names.CALENDAR_FILTERS.items():
            samples, one_series = timed(
                lambda key=key: store.daily_counts(
                    tz=tz, calendar_filter=key, **user, **year
                ),
                args.reps,
            )
            print(describe(f"filter {key} (its series)", samples))
            filter_p50[key] = statistics.median(samples)
            summed_samples, summed = timed(
                lambda flt=flt: store.daily_counts(
                    tz=tz, **flt.store_kwargs(), **user, **year
                ),
                args.reps,
            )
            print(describe(f"  {key}, name series summed", summed_samples))
            if one_series != summed:
                print(f"MISMATCH: filter {key} series and sum", file=sys.stderr)
                return 1
        matter_samples, _ = timed(
            lambda: store.matter_daily_counts(
                firm=FIRM, matter_id=3, tz=tz, calendar_filter="all", **year
            ),
            args.reps,
        )
        print(describe("matter 3 calendar, all", matter_samples))

        # Last: 100,000 items a run, which a busy machine's DynamoDB Local
        # may take longer than the client's read timeout to page through.
        naive_samples, naive_result = timed(patient(naive), args.naive_reps)
        print(describe("naive (every event, projected)", naive_samples))
        if counter_result != naive_result:
            print("MISMATCH: counters and naive counts differ", file=sys.stderr)
            return 1
        days = len(counter_result)
        total = sum(counter_result.values())
        print(f"year {YEAR} in {tz}: {days} days, {total:,} counted events (equal)")

        counters_p50 = statistics.median(counter_samples)
        naive_p50 = statistics.median(naive_samples)
        figures = {
            "counters_p50_ms": round(counters_p50, 2),
            "naive_p50_ms": round(naive_p50, 2),
            "speedup": round(naive_p50 / counters_p50, 1),
            "filter_p50_ms": {k: round(v, 2) for k, v in filter_p50.items()},
            "slowest_filter_p50_ms": round(max(filter_p50.values()), 2),
            "matter_p50_ms": round(statistics.median(matter_samples), 2),
            "load_average": [round(x, 2) for x in os.getloadavg()],
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
