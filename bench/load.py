"""Load test: people of two firms at work against `make serve`'s shape, with Locust.

Standalone (not a test); loopback only, bounded in time and users. Makes a
world on its own PostgreSQL database (created if missing, emptied at start)
and Redis database (flushed: the benchmark owns it), with DynamoDB Local in
memory on a free port: two firms of `--people` each (a firm admin, who may
open the audit view, a partner and associates), `--matters` open matters per
firm with `--tasks` cards each. Then, for each shape of `--shapes`
(default `1x1,2x2`: web processes x Celery worker nodes), in the same run:

1. starts the shape with `python -m hivelight.serve` (uvicorn with that many
   processes, the worker nodes with the outbox listener, beat);
2. work: `--users` simulated people (bench/locustfile.py) log in, keep a
   websocket open on their matters' boards and, at a person's pace, open
   boards and task pages, drag cards (the board's move endpoint, with
   CSRF), assign, comment with @mentions, open calendars and the audit
   view, for `--seconds`;
3. boards: `--board-users` people open boards as fast as they are answered,
   for `--board-seconds`: the board-open rate the web processes hold;
4. drains (the outbox all dispatched, the Celery queue empty) and stops the
   shape with one SIGINT.

After the last shape: events committed (outbox rows) vs stored (distinct
event ids in DynamoDB) vs dispatched (rows marked dispatched), each person's
activity counters vs a recount from their stored events (dry run), board
messages received twice by one socket, p99 lag commit -> stored and commit
-> another person's socket. The last line is one JSON object, the figures
of the largest shape plus the ratio of board opens per second:

{"rps": ..., "move_p50_ms": ..., "move_p99_ms": ..., "errors_5xx": ...,
 "committed": ..., "stored": ..., "dispatched": ..., "counters_equal": true,
 "lag_stored_p99_ms": ..., "lag_socket_p99_ms": ..., "web_2_over_1": ...}

    .venv/bin/python bench/load.py [--shapes 1x1,2x2] [--users 16]
        [--seconds 45] [--board-users 8] [--board-seconds 25]

Defaults: DATABASE_URL=postgres://postgres@127.0.0.1:5432/hl_load_bench,
REDIS_URL=redis://127.0.0.1:6379/10 (flushed: the benchmark owns it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/hl_load_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/10"
HOST = "127.0.0.1"
# What people do once, arriving: not counted in the rate of work.
ARRIVING = ("login page", "log in", "socket open")
PASSWORD = "load-bench-password"


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


# --- the world ----------------------------------------------------------------------


def make_world(*, people: int, matters: int, tasks: int) -> dict[str, Any]:
    """Two firms, their people (one shared password hash), matters and cards."""
    from django.contrib.auth.hashers import make_password

    from events_app.context import acting_as
    from tasks_app import services
    from tasks_app.models import Firm, Matter, Membership, User

    hashed = make_password(PASSWORD)
    spec: dict[str, Any] = {"password": PASSWORD, "people": [], "firms": {}}
    for f, (name, slug) in enumerate(
        [("Hartley Load", "hartley-load"), ("Northgate Load", "northgate-load")]
    ):
        firm = Firm.objects.create(name=name, slug=slug)
        staff = []
        for n in range(people):
            role = (
                Membership.Role.FIRM_ADMIN
                if n == 0
                else Membership.Role.PARTNER
                if n == 1
                else Membership.Role.ASSOCIATE
            )
            user = User.objects.create(
                username=f"f{f}p{n:02d}",
                first_name="Person",
                last_name=f"{f}-{n:02d}",
                email=f"f{f}p{n:02d}@example.test",
                password=hashed,
            )
            Membership.objects.create(user=user, firm=firm, role=role)
            staff.append(user)
            spec["people"].append(
                {
                    "id": user.pk,
                    "username": user.username,
                    "firm": firm.pk,
                    "auditor": role == Membership.Role.FIRM_ADMIN,
                }
            )
        partner = staff[1]
        firm_spec: dict[str, Any] = {
            "people": [{"id": u.pk, "username": u.username} for u in staff],
            "matters": [],
        }
        with acting_as(partner, source="shell"):
            for m in range(matters):
                matter = Matter.objects.create(
                    firm=firm,
                    number=f"L{f}-{m:03d}",
                    name=f"Load matter {m}",
                    client_name="Load",
                )
                made = []
                for t in range(tasks):
                    item = services.task_create(
                        actor=partner, matter_id=matter.pk, title=f"Card {f}-{m}-{t}"
                    )
                    made.append({"id": item.pk, "title": item.title})
                firm_spec["matters"].append({"id": matter.pk, "tasks": made})
        spec["firms"][str(firm.pk)] = firm_spec
    return spec


def sessions(spec: dict[str, Any]) -> dict[str, str]:
    """A session per person, for the board-open phase (no login to wait for)."""
    from django.test import Client

    from tasks_app.models import User

    made = {}
    for user in User.objects.filter(pk__in=[p["id"] for p in spec["people"]]):
        client = Client()
        client.force_login(user)
        made[user.username] = client.cookies["sessionid"].value
    return made


# --- the shape ----------------------------------------------------------------------


class Shape:
    """`python -m hivelight.serve` with W web processes and M worker nodes."""

    def __init__(self, web: int, workers: int, port: int, dynamo_port: int) -> None:
        self.web, self.workers, self.port = web, workers, port
        self.log = Path(tempfile.mkstemp(prefix=f"load-shape-{web}x{workers}-")[1])
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hivelight.serve",
                "--web",
                str(web),
                "--workers",
                str(workers),
                "--port",
                str(port),
                "--dynamo-port",
                str(dynamo_port),
                "--no-seed",
                "--no-outbound",
            ],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdin=subprocess.DEVNULL,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 180
        while "serving http://" not in self.log.read_text(errors="replace"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the shape did not start: see {self.log}")
            time.sleep(0.3)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)  # as one Ctrl-C
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)


def run_locust(
    port: int, spec_path: Path, *, mode: str, users: int, seconds: int
) -> dict[str, Any]:
    out = Path(tempfile.mkstemp(prefix=f"load-{mode}-", suffix=".json")[1])
    # People arrive two a second: a login hashes a password (PBKDF2, about
    # 0.3 s of CPU), on the one thread that runs a web process's views.
    rate = 2 if mode == "work" else users
    run_time = seconds + (users // rate if mode == "work" else 0)
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(ROOT / "bench" / "locustfile.py"),
        "--headless",
        "--only-summary",
        "--users",
        str(users),
        "--spawn-rate",
        str(rate),
        "--run-time",
        f"{run_time}s",
        "--stop-timeout",
        "10",
        "--host",
        f"http://{HOST}:{port}",
        "--loglevel",
        "WARNING",
    ]
    env = {
        **os.environ,
        "LOAD_SPEC": str(spec_path),
        "LOAD_OUT": str(out),
        "LOAD_MODE": mode,
    }
    log = out.with_suffix(".log")
    with log.open("wb") as sink:
        subprocess.run(
            command,
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            timeout=run_time + 120,
            check=False,
        )
    if not out.stat().st_size:
        raise RuntimeError(f"Locust wrote no results: see {log}")
    results = json.loads(out.read_text())
    # Rates and percentiles over the time everyone was at work: from the
    # last login to the last answer (logins are reported on their own).
    logins = [t for t, _ in results["timings"].get("log in", [])]
    every = [t for values in results["timings"].values() for t, _ in values]
    start = max(logins) if logins else min(every, default=0)
    end = max(every, default=start)
    results["seconds"] = max(end - start, 1e-3)
    results["timings"] = {
        name: [ms for t, ms in values if name in ARRIVING or t > start]
        for name, values in results["timings"].items()
    }
    return results


def drain(timeout: float = 180, *, queue: bool = True) -> float:
    """Wait until every outbox row is dispatched and (with `queue`, while
    workers run) the Celery queue is empty."""
    import redis
    from django.conf import settings

    from events_app.models import OutboxEvent

    started = time.monotonic()
    client = redis.Redis.from_url(settings.REDIS_URL)
    quiet = 0
    while time.monotonic() - started < timeout:
        idle = (
            not queue or client.llen("celery") == 0
        ) and not OutboxEvent.objects.filter(dispatched_at__isnull=True).exists()
        quiet = quiet + 1 if idle else 0
        if quiet >= 3:  # idle three times, a second apart: handlers finished
            break
        time.sleep(1.0)
    return time.monotonic() - started


# --- checks -------------------------------------------------------------------------


def stored_ids() -> Counter[str]:
    """Every event id in the events table (one item per stored event)."""
    from events_app.store.client import paginate, table_names

    found: Counter[str] = Counter()
    for item in paginate(
        "scan", TableName=table_names().events, ProjectionExpression="sk"
    ):
        found[item["sk"]["S"].rsplit("#", 1)[1]] += 1
    return found


def counters_equal(spec: dict[str, Any]) -> tuple[bool, int]:
    """Each person's counters against a recount of their stored events."""
    from events_app.store.recount import recount_user

    wrong = 0
    for person in spec["people"]:
        report = recount_user(
            firm=f"f_{person['firm']}", user_id=person["id"], dry_run=True
        )
        wrong += report["days_corrected"]
    return wrong == 0, wrong


def window_figures(
    results: dict[str, Any], since: dt.datetime, until: dt.datetime
) -> dict[str, Any]:
    """Lags and socket duplicates for the events committed in one window."""
    from events_app.models import OutboxEvent

    rows = {
        str(r.event_id): r
        for r in OutboxEvent.objects.filter(created_at__gte=since, created_at__lt=until)
    }
    stored_lag = [
        (r.stored_at - r.created_at).total_seconds() * 1000
        for r in rows.values()
        if r.stored_at
    ]
    socket_lag = []
    seen: Counter[tuple[str, int]] = Counter()
    for event_id, person, at in results["received"]:
        seen[(event_id, person)] += 1
        row = rows.get(event_id)
        if row is not None and (row.payload.get("actor") or {}).get("id") != person:
            socket_lag.append(at * 1000 - row.created_at.timestamp() * 1000)
    return {
        "events": len(rows),
        "lag_stored_p50_ms": round(percentile(stored_lag, 50), 1),
        "lag_stored_p99_ms": round(percentile(stored_lag, 99), 1),
        "lag_socket_p50_ms": round(percentile(socket_lag, 50), 1),
        "lag_socket_p99_ms": round(percentile(socket_lag, 99), 1),
        "socket_messages": len(results["received"]),
        "socket_doubled": sum(n - 1 for n in seen.values() if n > 1),
    }


def partition_heat(since: dt.datetime, until: dt.datetime) -> dict[str, Any]:
    """Events per DynamoDB partition key in a window, by key family.

    Each event is one item in its actor's partition (and, with counters, up
    to six counter updates in the same key of ActivityCounts) and one
    entry in each index: entity, matter, name, firm-month. The busiest key
    of each family and its share of all events say which keys run hot as a
    firm grows (docs/deploy.md scales these).
    """
    from events_app.models import OutboxEvent

    families: dict[str, Counter[str]] = {
        f: Counter() for f in ("user", "entity", "matter", "name", "firm_month")
    }
    rows = OutboxEvent.objects.filter(created_at__gte=since, created_at__lt=until)
    total = 0
    for payload in rows.values_list("payload", flat=True):
        total += 1
        firm = payload["firm"]
        actor = (payload.get("actor") or {}).get("id") or "system"
        subject = payload.get("parent") or payload["subject"]
        families["user"][f"U#{firm}#{actor}"] += 1
        families["entity"][f"E#{firm}#{subject['type']}#{subject['id']}"] += 1
        if payload.get("matter"):
            families["matter"][f"M#{firm}#{payload['matter']['id']}"] += 1
        families["name"][f"N#{firm}#{payload['name']}"] += 1
        families["firm_month"][f"F#{firm}#{payload['occurred_at'][:7]}"] += 1
    seconds = max((until - since).total_seconds(), 1e-3)
    heat: dict[str, Any] = {"events": total, "events_per_s": round(total / seconds, 2)}
    for family, keys in families.items():
        if keys:
            key, count = keys.most_common(1)[0]
            heat[family] = {
                "keys": len(keys),
                "busiest": key,
                "share": round(count / total, 3),
                "per_s": round(count / seconds, 2),
            }
    return heat


def describe(results: dict[str, Any]) -> dict[str, Any]:
    timings = results["timings"]
    requests = sum(len(v) for k, v in timings.items() if k not in ARRIVING)
    per_kind = {
        name: {
            "n": len(values),
            "p50_ms": round(percentile(values, 50), 1),
            "p99_ms": round(percentile(values, 99), 1),
        }
        for name, values in sorted(timings.items())
    }
    return {
        "rps": round(requests / results["seconds"], 1),
        "errors_5xx": len(results["errors_5xx"]),
        "errors_other": results["errors_other_count"],
        "kinds": per_kind,
    }


# --- main ---------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shapes", default="1x1,2x2", help="WEBxWORKERS,...")
    parser.add_argument("--people", type=int, default=25, help="per firm")
    parser.add_argument("--matters", type=int, default=2, help="per firm")
    parser.add_argument("--tasks", type=int, default=30, help="per matter")
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=45)
    parser.add_argument("--board-users", type=int, default=8)
    parser.add_argument("--board-seconds", type=int, default=25)
    args = parser.parse_args()
    shapes = [tuple(int(n) for n in s.split("x")) for s in args.shapes.split(",")]

    from events_app.store.local import DynamoDBLocal

    os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    os.environ.setdefault("REDIS_URL", DEFAULT_REDIS_URL)
    if not os.environ["DATABASE_URL"].startswith(("postgres://", "postgresql://")):
        sys.exit("load.py needs PostgreSQL (DATABASE_URL).")
    dynamo = DynamoDBLocal(max_heap_mb=768)
    print("starting DynamoDB Local (in memory)...", flush=True)
    dynamo.start()
    try:
        return run(args, shapes, dynamo)
    finally:
        dynamo.stop()


def run(args: argparse.Namespace, shapes: list[tuple[int, ...]], dynamo: Any) -> int:
    # The world's own events are relayed inline here; the shape's processes
    # are told otherwise by hivelight.serve.
    from bench.served import prepare

    prepare(dynamo_url=dynamo.endpoint_url, table_prefix="lb", host=HOST, eager=True)
    import redis
    from django.conf import settings
    from django.utils import timezone

    from events_app.models import OutboxEvent
    from events_app.store.local import free_port

    print(
        f"making two firms of {args.people} people, {args.matters} matters "
        f"of {args.tasks} cards each...",
        flush=True,
    )
    spec = make_world(people=args.people, matters=args.matters, tasks=args.tasks)
    spec["sessions"] = sessions(spec)
    spec_path = Path(tempfile.mkstemp(prefix="load-spec-", suffix=".json")[1])
    spec_path.write_text(json.dumps(spec))

    figures: dict[str, dict[str, Any]] = {}
    for web, workers in shapes:
        label = f"{web}x{workers}"
        port = free_port()
        print(f"\n== {web} web process(es), {workers} worker node(s) ==", flush=True)
        shape = Shape(web, workers, port, dynamo.port)
        try:
            since = timezone.now()
            load_before = load_average()
            work = run_locust(
                port, spec_path, mode="work", users=args.users, seconds=args.seconds
            )
            load_work = load_average()
            drained = drain()
            until = timezone.now()
            boards = run_locust(
                port,
                spec_path,
                mode="boards",
                users=args.board_users,
                seconds=args.board_seconds,
            )
            load_boards = load_average()
        finally:
            shape.stop()
        result = describe(work)
        result.update(window_figures(work, since, until))
        result["partitions"] = partition_heat(since, until)
        result["drain_s"] = round(drained, 1)
        board_open = boards["timings"].get("board", [])
        result["board_rps"] = round(len(board_open) / boards["seconds"], 1)
        result["board_p50_ms"] = round(percentile(board_open, 50), 1)
        result["board_errors_5xx"] = len(boards["errors_5xx"])
        result["load_average"] = {
            "before": load_before,
            "after_work": load_work,
            "after_boards": load_boards,
        }
        figures[label] = result
        kinds = result.pop("kinds")
        print(json.dumps(result), flush=True)
        for name, kind in kinds.items():
            print(
                f"  {name:<12} n={kind['n']:<5} p50 {kind['p50_ms']:7.1f} ms"
                f"   p99 {kind['p99_ms']:7.1f} ms",
                flush=True,
            )
        result["kinds"] = kinds
        if work["errors_other"]:
            print("  other errors, first:", work["errors_other"][:3], flush=True)

    print("\nchecking: outbox vs DynamoDB vs dispatched, counters vs recount...")
    drain(queue=False)  # no worker is left to take a task published at the end
    ids = stored_ids()
    committed = set(map(str, OutboxEvent.objects.values_list("event_id", flat=True)))
    dispatched = OutboxEvent.objects.filter(dispatched_at__isnull=False).count()
    equal, wrong_days = counters_equal(spec)
    redis.Redis.from_url(settings.REDIS_URL).flushdb()

    last = figures[f"{shapes[-1][0]}x{shapes[-1][1]}"]
    first = figures[f"{shapes[0][0]}x{shapes[0][1]}"]
    move = last["kinds"].get("move card", {"p50_ms": 0, "p99_ms": 0})
    summary = {
        "rps": last["rps"],
        "move_p50_ms": move["p50_ms"],
        "move_p99_ms": move["p99_ms"],
        "errors_5xx": sum(
            f["errors_5xx"] + f["board_errors_5xx"] for f in figures.values()
        ),
        "committed": len(committed),
        "stored": len(ids),
        "stored_twice": sum(n - 1 for n in ids.values() if n > 1),
        "stored_not_committed": len(set(ids) - committed),
        "dispatched": dispatched,
        "socket_doubled": sum(f["socket_doubled"] for f in figures.values()),
        "counters_equal": equal,
        "counter_days_wrong": wrong_days,
        "lag_stored_p99_ms": last["lag_stored_p99_ms"],
        "lag_socket_p99_ms": last["lag_socket_p99_ms"],
        "web_2_over_1": round(last["board_rps"] / first["board_rps"], 2)
        if first["board_rps"]
        else None,
        "board_rps": {k: f["board_rps"] for k, f in figures.items()},
        "rps_by_shape": {k: f["rps"] for k, f in figures.items()},
        "move_p99_by_shape": {
            k: f["kinds"].get("move card", {}).get("p99_ms") for k, f in figures.items()
        },
        "users": args.users,
        "cpus": os.cpu_count(),
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
