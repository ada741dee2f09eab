"""Benchmark: webhook deliveries per second to a local receiver, and their latency.

Starts what it needs: DynamoDB Local (in memory, unless DYNAMODB_ENDPOINT_URL
is set), a receiver on loopback (a threaded HTTP server that answers 200 and
verifies a sample of signatures with the standard's verifier), and two Celery
workers as production runs them: a solo worker on the `celery` queue (the
relay, woken by the outbox's NOTIFY) and a thread pool on `outbound`
(deliveries). PostgreSQL and Redis must be running.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/hl_webhook_bench \\
    REDIS_URL=redis://127.0.0.1:6379/13 \\
        .venv/bin/python bench/webhook_throughput.py [--events 300] \\
            [--paced 200] [--rate 20] [--threads 8]

1. Baseline: the same signed POSTs (`delivery.post`, the SSRF guard and
   all) from `--threads` threads straight to the receiver: no queue, no
   database. The ceiling for this machine.
2. Throughput: `--events` events committed at once to the outbox, with 1 and
   then 4 endpoints on the receiver (each gets every event); deliveries per
   second from the commit to the last delivery received. WEBHOOK_MAX_IN_FLIGHT
   (2 by default) caps each endpoint's requests in flight, so one endpoint
   uses at most two of the pool's threads.
3. Latency: `--paced` events, one transaction each at `--rate` per second,
   4 endpoints; from the event stored (the outbox row's `stored_at`) to the
   receiver having the delivery: p50 and p99.

The last line printed is one JSON object:
{"deliveries_per_s_1": ..., "deliveries_per_s_4": ...,
 "stored_to_delivered_p99_ms": ...}
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hivelight.settings")
os.environ.setdefault(
    "DATABASE_URL", "postgres://postgres@127.0.0.1:5432/hl_webhook_bench"
)
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/13")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ["CELERY_TASK_ALWAYS_EAGER"] = "0"


from hivelight.serve import ensure_database  # noqa: E402

ensure_database(os.environ["DATABASE_URL"])

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import transaction  # noqa: E402
from django.utils import timezone  # noqa: E402
from standardwebhooks.webhooks import Webhook  # noqa: E402

from events_app import envelope, store  # noqa: E402
from events_app.models import OutboxEvent, WebhookDelivery, WebhookEndpoint  # noqa: E402
from events_app.outbox import enqueue  # noqa: E402
from events_app.store.local import DynamoDBLocal  # noqa: E402
from events_app.webhooks import delivery, services, signing  # noqa: E402
from hivelight.celery import app  # noqa: E402
from tasks_app.models import Firm, Matter, Membership, User  # noqa: E402


class Receiver:
    """Answers 200 at once; remembers when each (path, webhook-id) first came."""

    def __init__(self) -> None:
        self.first_seen: dict[tuple[str, str], float] = {}
        self.secrets: dict[str, str] = {}
        self.bad_signatures = 0
        self.checked = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.record(self.path, dict(self.headers), body)
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.request_queue_size = 128
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def record(self, path: str, headers: dict[str, str], body: bytes) -> None:
        now = time.time()
        key = (path, headers.get("webhook-id", ""))
        with self.lock:
            self.first_seen.setdefault(key, now)
            check = self.checked % 50 == 0 and path in self.secrets
            self.checked += 1
        if check:  # a sample: verifying every one would measure the receiver
            try:
                Webhook(self.secrets[path]).verify(body, headers)
            except Exception:
                with self.lock:
                    self.bad_signatures += 1

    def count(self, paths: set[str]) -> int:
        with self.lock:
            return sum(1 for path, _ in self.first_seen if path in paths)


def start_worker(name: str, queues: str, pool: str, concurrency: int) -> Any:
    env = dict(os.environ)
    env.update(
        DYNAMODB_ENDPOINT_URL=settings.EVENT_STORE["ENDPOINT_URL"],
        EVENT_TABLE_PREFIX=settings.EVENT_STORE["TABLE_PREFIX"],
        PYTHONUNBUFFERED="1",
    )
    log_path = Path(tempfile.gettempdir()) / f"hl-bench-webhook-{name}.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "hivelight",
            "worker",
            f"--pool={pool}",
            f"--concurrency={concurrency}",
            "-Q",
            queues,
            "-n",
            f"{name}-{uuid.uuid4().hex[:6]}@%h",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
            "-l",
            "warning",
        ],
        cwd=BASE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"worker {name} exited; see {log_path}")
        replies = app.control.ping(timeout=0.5) or []
        if any(key.startswith(f"{name}-") for reply in replies for key in reply):
            return process
    raise SystemExit(f"worker {name} did not answer; see {log_path}")


def stop_worker(process: Any) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def make_world() -> tuple[User, Matter]:
    firm, _ = Firm.objects.get_or_create(slug="bench-wh", defaults={"name": "Bench"})
    admin = User.objects.filter(username="bench_wh_admin").first()
    if admin is None:
        admin = User.objects.create_user(username="bench_wh_admin", password="x")
        Membership.objects.create(
            user=admin, firm=firm, role=Membership.Role.FIRM_ADMIN
        )
    matter, _ = Matter.objects.get_or_create(
        firm=firm, number="B-1", defaults={"name": "Bench", "client_name": "Bench"}
    )
    return admin, matter


def event_for(matter: Matter, admin: User, n: int) -> dict[str, Any]:
    return envelope.build(
        name="task.updated",
        occurred_at=timezone.now(),
        firm_id=matter.firm_id,
        actor={"id": admin.pk, "name": "Bench"},
        subject={"type": "task", "id": 10_000 + n, "label": f"Task {n}"},
        matter={"id": matter.pk, "label": "B-1 Bench"},
        changes={"title": [f"Draft {n}", f"Draft {n + 1}"]},
        context={"source": "web", "request_id": uuid.uuid4().hex},
    )


def drop_endpoints() -> None:
    """Endpoint rows first, as the workers lock them (then their deliveries)."""
    with transaction.atomic():
        list(WebhookEndpoint.objects.select_for_update())
        WebhookEndpoint.objects.all().delete()


def endpoints(admin: User, receiver: Receiver, count: int) -> set[str]:
    drop_endpoints()
    paths = set()
    for n in range(count):
        path = f"/e{n}-{uuid.uuid4().hex[:6]}"
        _, secret = services.endpoint_create(
            actor=admin, url=receiver.url(path), event_patterns=["task.*"]
        )
        receiver.secrets[path] = secret
        paths.add(path)
    OutboxEvent.objects.all().delete()  # their own webhook.* events
    return paths


def wait_for(receiver: Receiver, paths: set[str], expected: int, limit: float) -> None:
    deadline = time.monotonic() + limit
    while receiver.count(paths) < expected:
        if time.monotonic() > deadline:
            raise SystemExit(
                f"only {receiver.count(paths)} of {expected} deliveries arrived"
            )
        time.sleep(0.01)


def baseline(receiver: Receiver, count: int, threads: int) -> float:
    """Signed POSTs straight to the receiver: no queue, no database."""
    path = "/baseline"
    secret = signing.new_secret()
    body = json.dumps({"n": 1}).encode()

    def one(n: int) -> None:
        headers = signing.headers(
            message_id=f"b{n}",
            at=dt.datetime.now(dt.UTC),
            body=body.decode(),
            secrets_in_use=[secret],
        )
        assert delivery.post(receiver.url(path), body=body, headers=headers).succeeded

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, range(count)))
    return count / (time.perf_counter() - started)


def throughput(
    admin: User, matter: Matter, receiver: Receiver, endpoint_count: int, events: int
) -> float:
    paths = endpoints(admin, receiver, endpoint_count)
    batch = [event_for(matter, admin, n) for n in range(events)]
    with transaction.atomic():
        enqueue.enqueue(batch)  # one NOTIFY at commit wakes the relay worker
    committed = time.time()
    wait_for(receiver, paths, events * endpoint_count, limit=600)
    with receiver.lock:
        last = max(t for (p, _), t in receiver.first_seen.items() if p in paths)
    return events * endpoint_count / (last - committed)


def latency(
    admin: User, matter: Matter, receiver: Receiver, count: int, rate: float
) -> list[float]:
    paths = endpoints(admin, receiver, 4)
    ids = []
    for n in range(count):
        event = event_for(matter, admin, n)
        ids.append(event["id"])
        with transaction.atomic():
            enqueue.enqueue([event])
        time.sleep(1 / rate)
    wait_for(receiver, paths, count * 4, limit=300)
    deadline = time.monotonic() + 30
    while OutboxEvent.objects.filter(event_id__in=ids, stored_at__isnull=True).exists():
        if time.monotonic() > deadline:
            raise SystemExit("events not marked stored")
        time.sleep(0.1)
    stored = {
        str(r.event_id): r.stored_at.timestamp()
        for r in OutboxEvent.objects.filter(event_id__in=ids)
    }
    with receiver.lock:
        return [
            (t - stored[event_id]) * 1000
            for (path, event_id), t in receiver.first_seen.items()
            if path in paths and event_id in stored
        ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--paced", type=int, default=200)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    server = None
    if not os.environ.get("DYNAMODB_ENDPOINT_URL"):
        server = DynamoDBLocal(max_heap_mb=512).start()
        settings.EVENT_STORE = {
            **settings.EVENT_STORE,
            "ENDPOINT_URL": server.endpoint_url,
        }
    settings.EVENT_STORE = {
        **settings.EVENT_STORE,
        "TABLE_PREFIX": f"bench_wh_{uuid.uuid4().hex[:6]}_",
    }
    store.reset_client()
    store.ensure_tables()
    app.control.purge()
    receiver = Receiver()
    workers = []
    try:
        WebhookDelivery.objects.all().delete()
        OutboxEvent.objects.all().delete()
        admin, matter = make_world()
        workers.append(start_worker("relay", "celery", "solo", 1))
        workers.append(start_worker("outbound", "outbound", "threads", args.threads))
        # Warm up the JVM, the workers' connections and the receiver.
        throughput(admin, matter, receiver, 1, 50)

        base = baseline(receiver, args.events * 2, args.threads)
        print(
            f"baseline: {base:8.1f} signed POSTs/s ({args.threads} threads, no queue)"
        )
        per_s = {}
        for count in (1, 4):
            per_s[count] = throughput(admin, matter, receiver, count, args.events)
            print(
                f"{count} endpoint{'s' if count > 1 else ' '}: {per_s[count]:8.1f} "
                f"deliveries/s ({args.events} events -> {args.events * count} "
                f"deliveries; {per_s[count] / base:.2f} of the baseline)"
            )
        lags = sorted(latency(admin, matter, receiver, args.paced, args.rate))
        p50 = statistics.median(lags)
        p99 = lags[min(len(lags) - 1, int(len(lags) * 0.99))]
        print(
            f"stored -> delivered, {args.paced} events at {args.rate:g}/s to 4 "
            f"endpoints ({len(lags)} deliveries): p50 {p50:.0f} ms, p99 {p99:.0f} ms"
        )
        print(
            f"signatures checked: {receiver.checked // 50 + 1}, bad: "
            f"{receiver.bad_signatures}"
        )
    finally:
        for worker in workers:
            stop_worker(worker)
        app.control.purge()
        drop_endpoints()
        OutboxEvent.objects.all().delete()
        store.delete_tables()
        if server is not None:
            server.stop()
    print(
        json.dumps(
            {
                "deliveries_per_s_1": round(per_s[1], 1),
                "deliveries_per_s_4": round(per_s[4], 1),
                "stored_to_delivered_p99_ms": round(p99, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
