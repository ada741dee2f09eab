"""`python -m hivelight.serve` (`make serve`): the production shape, started for real.

Two uvicorn processes, one Celery worker node and beat, DynamoDB Local in
memory, on a database of its own beside the test database and this suite's
Redis. The test logs in over HTTP, holds websockets until two of them sit
in different web processes, changes a card, and checks the board message
reaches the socket of the other process (through channels-redis) but not
the tab that made the change; then one SIGINT, as Ctrl-C sends it to the
foreground process group, must leave no process of the shape behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.conftest import service_unavailable

pytestmark = pytest.mark.services

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"


def _descendants(pid: int) -> set[int]:
    """Every live process below `pid` (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _shape_database_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        service_unavailable("the production shape needs PostgreSQL (DATABASE_URL)")
    from hivelight.serve import ensure_database

    parts = urlsplit(url)
    shape_url = urlunsplit(parts._replace(path=f"{parts.path}_shape"))
    try:
        ensure_database(shape_url)
    except Exception as exc:
        service_unavailable(f"PostgreSQL not available: {exc}")
    return shape_url


@pytest.fixture
def shape(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int]]:
    from events_app.store.local import find_java, free_port

    redis_url = os.environ.get("REDIS_URL", "")
    if not redis_url:
        service_unavailable("the production shape needs Redis (REDIS_URL)")
    try:
        find_java()
    except Exception as exc:
        service_unavailable(f"DynamoDB Local cannot start: {exc}")
    database_url = _shape_database_url()
    port, dynamo_port = free_port(), free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "DYNAMODB_ENDPOINT_URL": f"http://{HOST}:{dynamo_port}",
        "EVENT_TABLE_PREFIX": f"sv{uuid.uuid4().hex[:8]}_",
        "CHANNELS_PREFIX": f"sv{uuid.uuid4().hex[:8]}",
        "HIVELIGHT_DATA_DIR": str(tmp_path),
        "EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend",
        "PYTHONPATH": str(ROOT),
    }
    env.pop("CELERY_TASK_ALWAYS_EAGER", None)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hivelight.serve",
            "--web",
            "2",
            "--workers",
            "1",
            "--no-outbound",
            "--dynamo-in-memory",
            "--history-days",
            "0",  # today's demo data is enough; a year takes minutes
            "--port",
            str(port),
            "--dynamo-port",
            str(dynamo_port),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own group, as a terminal's foreground job
    )
    output: list[str] = []
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            output.append(line)
            if line.startswith("serving http://"):
                break
        else:
            pytest.fail("the shape did not start:\n" + "".join(output[-40:]))
        if not output or not output[-1].startswith("serving http://"):
            pytest.fail("the shape exited:\n" + "".join(output[-40:]))
        yield process, port
    finally:
        # A failed test still stops the whole shape: its children run in
        # sessions of their own, so a SIGKILL of the group would orphan them.
        family = _descendants(process.pid)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(30)
        for pid in family | _descendants(process.pid) | {process.pid}:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        process.wait(30)


def _login(port: int, username: str) -> Any:
    import requests

    http = requests.Session()
    base = f"http://{HOST}:{port}"
    http.get(f"{base}/login/", timeout=10).raise_for_status()
    answer = http.post(
        f"{base}/login/",
        data={
            "username": username,
            "password": "hivelight-demo",
            "csrfmiddlewaretoken": http.cookies["csrftoken"],
        },
        headers={"Referer": f"{base}/login/"},
        timeout=10,
        allow_redirects=False,
    )
    assert answer.status_code == 302, answer.text[:500]
    return http


def _socket(port: int, http: Any) -> tuple[Any, str]:
    import websocket

    cookies = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
    ws = websocket.create_connection(
        f"ws://{HOST}:{port}/ws/live/",
        header=[f"Cookie: {cookies}"],
        origin=f"http://{HOST}:{port}",
        timeout=10,
    )
    hello = json.loads(ws.recv())
    assert hello["kind"] == "hello"
    return ws, hello["channel"]


def _process_of(channel: str) -> str:
    """channels-redis names a consumer's channel `specific.<process>!<id>`."""
    return channel.split("!", 1)[0]


def _receive(ws: Any, match: Any, seconds: float) -> dict[str, Any] | None:
    import websocket

    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        ws.settimeout(left)
        try:
            message = json.loads(ws.recv())
        except websocket.WebSocketTimeoutException:
            return None
        if match(message):
            return message
    return None


def test_serve_runs_two_web_processes_sharing_groups_and_stops_on_one_ctrl_c(
    shape: tuple[subprocess.Popen[str], int],
) -> None:
    process, port = shape
    http = _login(port, "alice")
    base = f"http://{HOST}:{port}"
    board = http.get(f"{base}/matters/", timeout=10)
    assert board.status_code == 200
    matter_id = int(re.search(r'href="/matters/(\d+)/"', board.text).group(1))
    assert http.get(f"{base}/matters/{matter_id}/", timeout=10).status_code == 200

    # Sockets until two sit in different web processes (the kernel hands
    # each new connection to whichever process accepts first).
    sockets: dict[str, tuple[Any, str]] = {}
    opened = []
    for _ in range(40):
        ws, channel = _socket(port, http)
        opened.append(ws)
        sockets.setdefault(_process_of(channel), (ws, channel))
        if len(sockets) == 2:
            break
    assert len(sockets) == 2, "every socket landed in the same web process"
    (mover, mover_channel), (watcher, _) = sockets.values()
    for ws in (mover, watcher):
        ws.send(json.dumps({"subscribe": "matter", "id": matter_id}))
        assert _receive(ws, lambda m: m["kind"] == "subscribed", 10)

    answer = http.post(
        f"{base}/matters/{matter_id}/tasks/new/",
        data={"title": "Across processes", "status": "TODO"},
        headers={
            "X-CSRFToken": http.cookies["csrftoken"],
            "X-Live-Client": mover_channel,
            "Accept": "application/json",
        },
        timeout=10,
    )
    assert answer.status_code == 201, answer.text[:500]
    task_id = answer.json()["id"]

    def moved(m: dict[str, Any]) -> bool:
        return m.get("kind") == "board" and m.get("task_id") == task_id

    # Relayed by the worker, stored, dispatched, sent through channels-redis
    # to the other web process's socket; the tab that moved it gets no echo.
    assert _receive(watcher, moved, 30) is not None
    assert _receive(mover, moved, 2) is None
    for ws in opened:
        ws.close()

    shape_processes = _descendants(process.pid) | {process.pid}
    assert len(shape_processes) >= 7  # dynamo, 2 web + master, worker x2, beat
    os.killpg(process.pid, signal.SIGINT)
    process.wait(60)
    output = process.stdout.read()
    deadline = time.monotonic() + 10
    while (left := {p for p in shape_processes if _alive(p)}) and (
        time.monotonic() < deadline
    ):
        time.sleep(0.2)
    assert not left, f"still running after Ctrl-C: {sorted(left)}\n{output[-2000:]}"
    assert process.returncode == 0, output[-2000:]
