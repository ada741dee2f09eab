"""Benchmark: from the HTTP request that assigns a task to the assignee's socket.

Standalone (not a test). Starts everything it measures, on free ports:
DynamoDB Local (in memory), uvicorn serving `hivelight.asgi:application`
with `--web` processes on one port (as `make serve` does), and a
Celery worker (prefork), on its own PostgreSQL database (created and
migrated if missing, emptied at start) and its own Redis database (flushed
at start and end: the benchmark owns it).

The firm has Alice (who assigns), Bob (who is assigned) and 200 other
people, each with a socket open (held by a separate process, as their
browsers are other machines). With `--others-on-board` each of them also
has the matter's board open, so every assignment fans a board message out
to 200 sockets while Bob waits for his, and each board does with it what
the page does: nothing to fetch when the message carries the card, else a
GET of each column it names (counted, `others_fetched`).

Then, one after another, Alice assigns a fresh task to Bob by POSTing the
task page's form (as the browser does); the time is taken from just before
the request is written to the moment Bob's socket receives the
`notification` message: commit, outbox relay (DynamoDB write), dispatch,
handler (notification row), channels-redis, the web process, websocket. Interleaved
with each assignment, the baseline: a bare channel-layer round trip, a
`group_send` to Bob's group from this process to Bob's socket. Also printed:
the median time of each stage, from the rows' own timestamps.

    .venv/bin/python bench/notify_latency.py [--assignments 200] [--others 200]
        [--warmup 10] [--concurrency CPUS] [--others-on-board] [--web N]

`--web` defaults to 1, and to 2 with `--others-on-board` (the fan-out to
200 sockets is shared by the processes holding them). A notification that
does not arrive within 40 s is reported (`"missed"`), never fatal.

Defaults: DATABASE_URL=postgres://postgres@127.0.0.1:5432/hl_notify_bench,
REDIS_URL=redis://127.0.0.1:6379/11. The last line printed is one JSON object:
{"p50_ms": ..., "p99_ms": ..., "baseline_p99_ms": ...}
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import math
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/hl_notify_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/11"
HOST = "127.0.0.1"
WAIT_SECONDS = 40.0  # past the outbox sweeper's 30 s: a missed wake-up still lands


# --- a minimal websocket and HTTP/1.1 client (asyncio streams) --------------------


class WebSocket:
    """Just enough RFC 6455 for a client: text frames, ping/pong, close."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader = reader
        self.writer = writer
        self.close_code: int | None = None

    @classmethod
    async def connect(cls, port: int, path: str, headers: dict[str, str]) -> WebSocket:
        reader, writer = await asyncio.open_connection(HOST, port)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: {HOST}:{port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
            *(f"{name}: {value}" for name, value in headers.items()),
        ]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            raise RuntimeError(f"websocket refused: {head[:80]!r}")
        return cls(reader, writer)

    async def _send(self, opcode: int, payload: bytes) -> None:
        header = bytearray([0x80 | opcode])
        size = len(payload)
        if size < 126:
            header.append(0x80 | size)
        elif size < 65536:
            header.append(0x80 | 126)
            header += size.to_bytes(2, "big")
        else:
            header.append(0x80 | 127)
            header += size.to_bytes(8, "big")
        mask = os.urandom(4)
        header += mask
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.writer.write(bytes(header) + masked)
        await self.writer.drain()

    async def send_json(self, data: dict[str, Any]) -> None:
        await self._send(0x1, json.dumps(data).encode())

    async def recv(self) -> dict[str, Any] | None:
        """The next text message as JSON; None once the server closes."""
        message = b""
        while True:
            first, second = await self.reader.readexactly(2)
            size = second & 0x7F
            if size == 126:
                size = int.from_bytes(await self.reader.readexactly(2), "big")
            elif size == 127:
                size = int.from_bytes(await self.reader.readexactly(8), "big")
            mask = await self.reader.readexactly(4) if second & 0x80 else None
            data = await self.reader.readexactly(size)
            if mask:
                data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
            opcode = first & 0x0F
            if opcode == 0x8:
                self.close_code = int.from_bytes(data[:2], "big") if data else 1005
                return None
            if opcode == 0x9:
                await self._send(0xA, data)
                continue
            if opcode == 0xA:
                continue
            message += data
            if first & 0x80:
                return json.loads(message)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self._send(0x8, (1000).to_bytes(2, "big"))
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()


class HttpClient:
    """One keep-alive HTTP/1.1 connection with a session and a CSRF token."""

    def __init__(self, port: int, session: str) -> None:
        self.port = port
        self.csrf = secrets.token_hex(16)  # a 32-character CSRF secret
        self.cookie = f"sessionid={session}; csrftoken={self.csrf}"
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post_form(self, path: str, fields: dict[str, Any]) -> tuple[int, bytes]:
        try:
            return await self._post_form(path, fields)
        except (ConnectionError, asyncio.IncompleteReadError):
            # The server closed the kept-alive connection while Bob waited
            # (uvicorn keeps an idle one 5 s): once more on a fresh one.
            await self.close()
            self.writer = None
            return await self._post_form(path, fields)

    async def _post_form(self, path: str, fields: dict[str, Any]) -> tuple[int, bytes]:
        body = urlencode(fields).encode()
        return await self._request(
            "POST",
            path,
            body,
            f"X-CSRFToken: {self.csrf}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n",
        )

    async def get(self, path: str) -> tuple[int, bytes]:
        """A GET as htmx sends it (an open board's fetch of a column)."""
        try:
            return await self._request("GET", path, b"", "HX-Request: true\r\n")
        except (ConnectionError, asyncio.IncompleteReadError):
            await self.close()
            self.writer = None
            return await self._request("GET", path, b"", "HX-Request: true\r\n")

    async def _request(
        self, method: str, path: str, body: bytes, extra: str
    ) -> tuple[int, bytes]:
        if self.writer is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {HOST}:{self.port}\r\n"
            f"Cookie: {self.cookie}\r\n{extra}"
            f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        await self.writer.drain()
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {
            k.strip().lower(): v.strip()
            for k, _, v in (line.partition(":") for line in lines[1:] if line)
        }
        if headers.get("transfer-encoding", "").lower() == "chunked":
            content = b""
            while size := int((await self.reader.readuntil(b"\r\n")).strip(), 16):
                content += await self.reader.readexactly(size)
                await self.reader.readexactly(2)
            await self.reader.readexactly(2)
        else:
            length = int(headers.get("content-length", "0"))
            content = await self.reader.readexactly(length) if length else b""
        if headers.get("connection", "").lower() == "close":
            self.writer.close()
        return status, content

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


# --- processes --------------------------------------------------------------------


@dataclass
class Processes:
    """Children started by the benchmark, stopped in reverse order."""

    children: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)
    logs: dict[str, Path] = field(default_factory=dict)

    def start(
        self,
        name: str,
        command: list[str],
        log_dir: Path,
        env: dict[str, str] | None = None,
    ) -> None:
        log_path = log_dir / f"{name}.log"
        self.logs[name] = log_path
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=env or dict(os.environ),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.children.append((name, process))

    def check(self) -> None:
        for name, process in self.children:
            if process.poll() is not None:
                tail = self.logs[name].read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{tail}")

    def stop(self) -> None:
        for _, process in reversed(self.children):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for _, process in reversed(self.children):
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)


def wait_until(predicate: Any, what: str, processes: Processes, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        processes.check()
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.1)


def port_open(port: int) -> bool:
    import socket

    with contextlib.suppress(OSError), socket.create_connection((HOST, port), 0.5):
        return True
    return False


# --- data -------------------------------------------------------------------------


@dataclass
class World:
    alice_session: str
    bob_session: str
    bob_id: int
    others: list[str]  # session keys
    matter_id: int
    tasks: list[tuple[int, str]]  # (id, title), one per assignment


def make_world(*, others: int, tasks: int) -> World:
    """A firm with Alice, Bob and `others` people, one open matter, fresh tasks."""
    from django.test import Client

    from events_app.context import acting_as
    from tasks_app import services
    from tasks_app.models import Firm, Matter, Membership, User

    def person(username: str, role: str, first: str, last: str) -> User:
        user = User(username=username, first_name=first, last_name=last)
        user.email = f"{username}@example.test"
        user.set_unusable_password()  # sessions are made directly below
        user.save()
        Membership.objects.create(user=user, firm=firm, role=role)
        return user

    def session(user: User) -> str:
        client = Client()
        client.force_login(user)
        return client.cookies["sessionid"].value

    firm = Firm.objects.create(name="Bench & Co", slug="bench-co")
    alice = person("alice", Membership.Role.PARTNER, "Alice", "Hartley")
    bob = person("bob", Membership.Role.ASSOCIATE, "Bob", "Stone")
    people = [
        person(f"p{n:03d}", Membership.Role.ASSOCIATE, "Person", f"{n:03d}")
        for n in range(others)
    ]
    matter = Matter.objects.create(
        firm=firm, number="B-001", name="Latency", client_name="Bench"
    )
    made = []
    with acting_as(alice, source="shell"):
        for n in range(tasks):
            task = services.task_create(
                actor=alice, matter_id=matter.pk, title=f"Bench task {n:04d}"
            )
            made.append((task.pk, task.title))
    return World(
        alice_session=session(alice),
        bob_session=session(bob),
        bob_id=bob.pk,
        others=[session(p) for p in people],
        matter_id=matter.pk,
        tasks=made,
    )


def pipeline_idle() -> bool:
    """Nothing left in the outbox or on the Celery queue."""
    import redis
    from django.conf import settings

    from events_app.models import OutboxEvent

    waiting = redis.Redis.from_url(settings.REDIS_URL).llen("celery")
    return (
        waiting == 0
        and not OutboxEvent.objects.filter(dispatched_at__isnull=True).exists()
    )


# --- the other people's sockets, in a process of their own ---------------------------


async def open_others(
    port: int, sessions: list[str], matter_id: int | None
) -> list[WebSocket]:
    """Open one socket per session; with `matter_id`, each opens that board."""
    origin = {"Origin": f"http://{HOST}:{port}"}
    sockets: list[WebSocket] = []
    for start in range(0, len(sessions), 20):
        batch = await asyncio.gather(
            *(
                WebSocket.connect(
                    port, "/ws/live/", {**origin, "Cookie": f"sessionid={key}"}
                )
                for key in sessions[start : start + 20]
            )
        )
        for socket in batch:
            hello = await socket.recv()
            assert hello and hello["kind"] == "hello", hello
            if matter_id is not None:
                await socket.send_json({"subscribe": "matter", "id": matter_id})
                reply = await socket.recv()
                assert reply and reply["kind"] == "subscribed", reply
        sockets.extend(batch)
    return sockets


async def hold_others(port: int, sessions: list[str], matter_id: int | None) -> None:
    """Hold the sockets open, reading everything, until stdin closes.

    A separate process, as other people's browsers are other machines: the
    frames they receive must not queue in front of Bob's in the measuring
    process. On the board, each does what static/js/live_board.js does
    with a board message: nothing to fetch when it carries the card (or
    says the card is gone), else a GET of each column it names (or of the
    whole board), so a message that made pages fetch again would show in
    the figures. The fetches are counted and printed at the end.
    """
    sockets = await open_others(port, sessions, matter_id)
    fetched = [0]
    drains = [
        asyncio.create_task(
            drain(socket)
            if matter_id is None
            else follow_board(socket, HttpClient(port, key), matter_id, fetched)
        )
        for socket, key in zip(sockets, sessions, strict=True)
    ]
    print(f"ready {len(sockets)}", flush=True)
    await asyncio.to_thread(sys.stdin.read)
    for task in drains:
        task.cancel()
    await asyncio.gather(*(s.close() for s in sockets), return_exceptions=True)
    print(f"fetched {fetched[0]}", flush=True)


async def follow_board(
    socket: WebSocket, http: HttpClient, matter_id: int, fetched: list[int]
) -> None:
    """Read a board's messages and fetch what the page would fetch."""
    columns = f"/matters/{matter_id}/board/columns/"
    with contextlib.suppress(Exception):
        while (message := await socket.recv()) is not None:
            if message.get("kind") != "board":
                continue
            card = message.get("card") or {}
            if message.get("removed") or card.get("order"):
                continue  # the page puts it in place itself
            statuses = {card.get("status"), message.get("status")}
            statuses |= {message.get("from_status")}
            statuses.discard(None)
            paths = [f"{columns}?status={status}" for status in sorted(statuses)]
            for path in paths or [columns]:
                await http.get(path)
                fetched[0] += 1


def start_others(
    processes: Processes, log_dir: Path, port: int, world: World, on_board: bool
) -> subprocess.Popen[bytes]:
    spec = log_dir / "others.json"
    spec.write_text(
        json.dumps(
            {
                "port": port,
                "sessions": world.others,
                "matter_id": world.matter_id if on_board else None,
            }
        )
    )
    holder = subprocess.Popen(
        [sys.executable, __file__, "--hold-others", str(spec)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    processes.children.append(("others", holder))
    processes.logs["others"] = spec
    line = holder.stdout.readline().decode().strip()
    if not line.startswith("ready"):
        raise RuntimeError(f"the other sockets did not open: {line!r}")
    return holder


# --- measuring --------------------------------------------------------------------


@dataclass
class Sample:
    title: str
    sent_wall: float
    latency_ms: float


async def drain(socket: WebSocket) -> None:
    """Read and drop everything (the other people's board messages)."""
    with contextlib.suppress(Exception):
        while await socket.recv() is not None:
            pass


async def reader(socket: WebSocket, inbox: asyncio.Queue[tuple[float, dict]]) -> None:
    """Bob's messages into `inbox`; says so if his socket ends (every later
    notification would be reported missing, and this says why)."""
    try:
        while (message := await socket.recv()) is not None:
            await inbox.put((time.perf_counter(), message))
        print(f"  Bob's socket was closed by the server: code {socket.close_code}")
    except Exception as exc:
        print(f"  Bob's socket failed: {exc!r}", flush=True)


async def wait_for(
    inbox: asyncio.Queue[tuple[float, dict]], match: Any
) -> tuple[float, dict] | None:
    """The first matching message within WAIT_SECONDS, or None (never raises:
    one late message is a figure to report, not a reason to lose the run)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while (left := deadline - time.monotonic()) > 0:
        try:
            received, message = await asyncio.wait_for(inbox.get(), left)
        except TimeoutError:
            return None
        if match(message):
            return received, message
    return None


async def measure(
    port: int, world: World, *, warmup: int, count: int, missed: list[str]
) -> tuple[list[Sample], list[float]]:
    from channels.layers import get_channel_layer

    from events_app.live import groups as live

    origin = {"Origin": f"http://{HOST}:{port}"}
    bob = await WebSocket.connect(
        port, "/ws/live/", {**origin, "Cookie": f"sessionid={world.bob_session}"}
    )
    hello = await bob.recv()
    assert hello and hello["kind"] == "hello", hello
    inbox: asyncio.Queue[tuple[float, dict]] = asyncio.Queue()
    bob_reader = asyncio.create_task(reader(bob, inbox))

    layer = get_channel_layer()
    group = live.user_group(world.bob_id)
    http = HttpClient(port, world.alice_session)
    samples: list[Sample] = []
    baseline: list[float] = []
    try:
        for n, (task_id, title) in enumerate(world.tasks[: warmup + count]):
            form = {
                "title": title,
                "description": "",
                "status": "TODO",
                "priority": "NORMAL",
                "assignee": world.bob_id,
                "due_date": "",
                "milestone": "",
            }
            sent_wall = time.time()
            sent = time.perf_counter()
            status, body = await http.post_form(f"/tasks/{task_id}/", form)
            if status != 302:
                raise RuntimeError(f"assignment answered {status}: {body[:300]!r}")
            got = await wait_for(
                inbox,
                lambda m, title=title: (
                    m.get("kind") == "notification" and title in m.get("text", "")
                ),
            )
            if got is None:
                print(f"  {title}: no notification within {WAIT_SECONDS:.0f} s")
                missed.append(title)
            elif n >= warmup:
                samples.append(Sample(title, sent_wall, (got[0] - sent) * 1000))

            ping = {"kind": "bench", "seq": n}
            sent = time.perf_counter()
            await layer.group_send(group, live.message(group, ping))
            got = await wait_for(inbox, lambda m, ping=ping: m == ping)
            if got is None:
                missed.append(f"baseline {n}")
            elif n >= warmup:
                baseline.append((got[0] - sent) * 1000)
            if (n + 1) % 50 == 0:
                print(f"  {n + 1} assignments", flush=True)
    finally:
        await http.close()
        bob_reader.cancel()
        await bob.close()
    return samples, baseline


def stages(samples: list[Sample]) -> dict[str, float]:
    """p50 and p90 of the time spent in each part of the pipeline (wall clocks, ms)."""
    from events_app.envelope import parse_instant
    from events_app.models import Notification, OutboxEvent

    parts: dict[str, list[float]] = {
        "request -> change saved": [],
        "saved -> relayed (stored, dispatched)": [],
        "relayed -> notification row": [],
        "notification row -> Bob's socket": [],
    }
    for sample in samples:
        notification = Notification.objects.filter(
            summary__contains=sample.title
        ).first()
        if notification is None:
            continue
        row = OutboxEvent.objects.get(event_id=notification.event_id)
        occurred = parse_instant(row.payload["occurred_at"]).timestamp()
        sent = sample.sent_wall
        parts["request -> change saved"].append((occurred - sent) * 1000)
        parts["saved -> relayed (stored, dispatched)"].append(
            (row.dispatched_at.timestamp() - occurred) * 1000
        )
        parts["relayed -> notification row"].append(
            (notification.created_at.timestamp() - row.dispatched_at.timestamp()) * 1000
        )
        received = sent + sample.latency_ms / 1000
        parts["notification row -> Bob's socket"].append(
            (received - notification.created_at.timestamp()) * 1000
        )
    return {
        name: (percentile(values, 50), percentile(values, 90))
        for name, values in parts.items()
        if values
    }


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100): p99 of 200 is the 198th value."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def describe(label: str, values: list[float]) -> str:
    return (
        f"{label:<34} p50 {percentile(values, 50):7.1f} ms   "
        f"p90 {percentile(values, 90):7.1f}   p99 {percentile(values, 99):7.1f}   "
        f"max {max(values):7.1f}   n={len(values)}"
    )


# --- main -------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assignments", type=int, default=200)
    parser.add_argument("--others", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument(
        "--concurrency",
        type=int,
        default=os.cpu_count() or 2,
        help="worker processes (default: one per CPU, as Celery's own default)",
    )
    parser.add_argument(
        "--web",
        type=int,
        default=None,
        help="web (uvicorn) processes; default 1, or 2 with --others-on-board",
    )
    parser.add_argument(
        "--others-on-board",
        action="store_true",
        help="the other sockets also open the matter's board, so each "
        "assignment fans a board message out to all of them",
    )
    # Internal: run as the process that holds the other people's sockets.
    parser.add_argument("--hold-others", metavar="SPEC", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.hold_others:
        spec = json.loads(Path(args.hold_others).read_text())
        asyncio.run(hold_others(spec["port"], spec["sessions"], spec["matter_id"]))
        return 0

    from events_app.store.local import DynamoDBLocal, free_port

    processes = Processes()
    dynamo = DynamoDBLocal(max_heap_mb=512)
    log_dir = Path(tempfile.mkdtemp(prefix="notify-bench-"))
    print("starting DynamoDB Local (in memory)...", flush=True)
    dynamo.start()
    try:
        return run(args, dynamo, processes, log_dir, free_port())
    finally:
        processes.stop()
        dynamo.stop()


def run(
    args: argparse.Namespace,
    dynamo: Any,
    processes: Processes,
    log_dir: Path,
    port: int,
) -> int:
    os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    os.environ.setdefault("REDIS_URL", DEFAULT_REDIS_URL)
    if not os.environ["DATABASE_URL"].startswith(("postgres://", "postgresql://")):
        sys.exit("notify_latency.py needs PostgreSQL (DATABASE_URL).")
    # The assignment email is its own task after the notification; not what
    # is measured here, so it goes nowhere (as `prepare` sets it).
    from bench.served import prepare

    prepare(dynamo_url=dynamo.endpoint_url, table_prefix="nb", host=HOST, eager=False)
    import redis
    from django.conf import settings

    from hivelight.serve import worker_environment

    total = args.warmup + args.assignments
    print(f"creating the firm: {args.others} people, {total} tasks...", flush=True)
    world = make_world(others=args.others, tasks=total)

    python = sys.executable
    processes.start(
        "worker",
        [
            python,
            "-m",
            "celery",
            "-A",
            "hivelight",
            "worker",
            "--pool=prefork",
            f"--concurrency={args.concurrency}",
            "-Q",
            "celery",
            "-n",
            f"bench-{uuid.uuid4().hex[:8]}@%h",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
            "-l",
            "warning",
        ],
        log_dir,
        # As `make serve` runs them: workers keep a connection, web processes pool.
        worker_environment(dict(os.environ)),
    )
    web = args.web or (2 if args.others_on_board else 1)
    processes.start(
        "web",
        [
            python,
            "-m",
            "uvicorn",
            "hivelight.asgi:application",
            "--host",
            HOST,
            "--port",
            str(port),
            "--workers",
            str(web),
            "--lifespan",
            "off",
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        log_dir,
        {**os.environ, "DATABASE_POOL": os.environ.get("DATABASE_POOL", "4")},
    )
    wait_until(lambda: port_open(port), "the web processes", processes, 30)
    print("worker relaying the set-up's events...", flush=True)
    for _ in range(2):  # idle twice, a second apart: handlers in hand finished
        wait_until(pipeline_idle, "the set-up's events", processes, 180)
        time.sleep(1.0)

    others = start_others(processes, log_dir, port, world, args.others_on_board)
    where = "on the board" if args.others_on_board else "connected"
    print(f"sockets open: Bob, and {args.others} others {where}", flush=True)

    started = time.perf_counter()
    missed: list[str] = []
    samples, baseline = asyncio.run(
        measure(port, world, warmup=args.warmup, count=args.assignments, missed=missed)
    )
    seconds = time.perf_counter() - started
    others.stdin.close()
    fetched = None
    with contextlib.suppress(subprocess.TimeoutExpired):
        others.wait(timeout=30)
        for line in others.stdout.read().decode().splitlines():
            if line.startswith("fetched "):
                fetched = int(line.split()[1])
    latencies = [s.latency_ms for s in samples]

    print()
    print(
        f"{len(samples)} assignments to Bob (after {args.warmup} warm-up), "
        f"{args.others} other sockets {where}, "
        f"worker prefork x{args.concurrency}, {web} web process(es); {seconds:.1f} s"
    )
    print(describe("HTTP assignment -> Bob's socket", latencies))
    print(describe("baseline: group_send -> socket", baseline))
    for name, (median, p90) in stages(samples).items():
        print(f"  {name:<38} p50 {median:7.1f} ms   p90 {p90:7.1f} ms")
    if args.others_on_board:
        print(f"requests the other boards made to follow the changes: {fetched}")
    print(f"logs: {log_dir}")
    redis.Redis.from_url(settings.REDIS_URL).flushdb()

    figures = {
        "p50_ms": round(percentile(latencies, 50), 1),
        "p99_ms": round(percentile(latencies, 99), 1),
        "baseline_p99_ms": round(percentile(baseline, 99), 1),
        "missed": len(missed),
        "web": web,
    }
    if args.others_on_board:
        figures["others_fetched"] = fetched
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
