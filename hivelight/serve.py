"""The production shape on one machine: `python -m hivelight.serve` (`make serve`).

Starts, each in its own process group, against PostgreSQL, Redis and a
DynamoDB-API store:

- DynamoDB Local, unless one already answers at DYNAMODB_ENDPOINT_URL's port
  (reused and left running, as `make run` does);
- `--workers` Celery worker nodes on the `celery` queue (relay and event
  handlers; each node's parent process runs the outbox NOTIFY listener, the
  bootstep of events_app.outbox.wakeup), one `outbound` worker (webhooks,
  EventBridge: threads) and exactly one beat;
- uvicorn with `--web` worker processes on one port: HTTP and websockets in
  every process, groups through channels-redis, so a message sent by any
  process or worker reaches a socket held by any other.

Before those: `migrate`, `ensure_event_tables`, `collectstatic` (only with
DEBUG=0) and (unless `--no-seed`) `seed_demo`. One Ctrl-C (SIGINT) or
SIGTERM stops everything it started: each child's whole process group is
sent SIGTERM, in reverse order of starting, then SIGKILL after a grace
period. If any child exits on its own,
the rest are stopped too and the exit status is 1: a half-running shape
would hide failures.

A line `serving http://HOST:PORT/ ...` is printed once the web port answers.
Imports nothing from the apps (the children do).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
GRACE_SECONDS = 10.0


def port_open(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), 0.5):
        return True
    return False


@dataclass
class Shape:
    """The children, stopped in reverse order, each with its process group."""

    children: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)
    stopping: bool = False

    def start(self, name: str, command: list[str], env: dict[str, str]) -> None:
        print(f"  {name}: {' '.join(command[1:])}", flush=True)
        # Commands are this interpreter with fixed arguments, never input.
        process = subprocess.Popen(  # noqa: S603
            command,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own group: Ctrl-C reaches only us
        )
        self.children.append((name, process))

    def exited(self) -> tuple[str, int] | None:
        for name, process in self.children:
            code = process.poll()
            if code is not None:
                return name, code
        return None

    def stop(self) -> None:
        self.stopping = True
        for _, process in reversed(self.children):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + GRACE_SECONDS
        for _, process in self.children:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(max(0.1, deadline - time.monotonic()))
        # Whatever is left, group by group, including grandchildren whose
        # parent already went (prefork children, the JVM, uvicorn workers).
        for _, process in self.children:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(5)


def child_env(args: argparse.Namespace, dynamo_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "hivelight.settings")
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p
    )
    env["DYNAMODB_ENDPOINT_URL"] = dynamo_url
    env["CELERY_TASK_ALWAYS_EAGER"] = "0"
    # A pool per process instead of a connect per request (about 3 ms here,
    # more over a network). Not CONN_MAX_AGE: under ASGI each request's sync
    # code runs on a thread of its own, and kept connections were one per
    # thread (PostgreSQL ran out of connections under the load test).
    env.setdefault("DATABASE_POOL", str(args.db_pool))
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def worker_environment(env: dict[str, str]) -> dict[str, str]:
    """The environment of Celery workers and beat, from the web processes'.

    The connection pool is the web processes' (ASGI runs each request on a
    thread of its own). A psycopg pool does not survive a fork: a prefork
    child inherits the parent's pool without its threads, and Celery's
    Django fix-up closing it there can hang the child for good. A worker
    process runs one task at a time on one thread, so it keeps its one
    connection between tasks (CONN_MAX_AGE, checked after a pause), which
    Celery's Django fix-up honours: connecting for every handler task was
    about 7% of a worker's time in the fan-out benchmark (six handler tasks
    and a relay per assignment).
    """
    worker = {**env, "DATABASE_POOL": "0"}
    worker.setdefault("CONN_MAX_AGE", "300")
    worker.setdefault("CONN_HEALTH_CHECKS", "1")
    return worker


def ensure_database(url: str, *, fresh: bool = False) -> None:
    """Create the PostgreSQL database of `url` if it does not exist
    (`fresh`: drop it first, for a benchmark that starts from nothing)."""
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    with psycopg.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        user=parts.username or "postgres",
        password=parts.password or None,
        dbname="postgres",
        autocommit=True,
    ) as conn:
        if fresh:
            drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
            conn.execute(drop.format(sql.Identifier(name)))
        query = "SELECT 1 FROM pg_database WHERE datname = %s"
        if not conn.execute(query, [name]).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def check_services(env: dict[str, str]) -> None:
    database = env.get("DATABASE_URL", "")
    if not database.startswith(("postgres://", "postgresql://", "pgsql://")):
        sys.exit("make serve needs PostgreSQL: set DATABASE_URL=postgres://...")
    if not env.get("REDIS_URL", "").startswith(("redis://", "rediss://")):
        sys.exit("make serve needs Redis: set REDIS_URL=redis://...")


def prepare(env: dict[str, str], *, seed: bool, history_days: int | None) -> None:
    python = sys.executable
    commands = [["migrate", "--no-input"], ["ensure_event_tables"]]
    if env.get("DEBUG", "1").lower() in ("0", "false", "no", "off"):
        # Production settings serve hashed static files from a manifest.
        commands.append(["collectstatic", "--no-input", "--verbosity", "0"])
    if seed:
        days = [] if history_days is None else ["--history-days", str(history_days)]
        commands.append(["seed_demo", *days])
    for command in commands:
        subprocess.run(  # noqa: S603
            [python, "manage.py", *command], cwd=ROOT, env=env, check=True
        )


def _celery(*args: str, level: str) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "hivelight", *args, "-l", level]


def start_shape(shape: Shape, args: argparse.Namespace, env: dict[str, str]) -> None:
    level, pid = args.log_level, os.getpid()
    quiet = ("--without-gossip", "--without-mingle")
    worker_env = worker_environment(env)
    for n in range(1, args.workers + 1):
        shape.start(
            f"worker-{n}",
            _celery(
                "worker",
                "-Q",
                "celery",
                "--pool=prefork",
                f"--concurrency={args.worker_concurrency}",
                f"--hostname=serve-{n}-{pid}@%h",
                *quiet,
                level=level,
            ),
            worker_env,
        )
    if args.outbound:
        shape.start(
            "outbound",
            _celery(
                "worker",
                "-Q",
                "outbound",
                "--pool=threads",
                "--concurrency=8",
                f"--hostname=serve-outbound-{pid}@%h",
                *quiet,
                level=level,
            ),
            worker_env,
        )
    schedule = Path(args.data_dir) / "celerybeat-schedule"
    shape.start("beat", _celery("beat", "-s", str(schedule), level=level), worker_env)
    shape.start(
        "web",
        [
            sys.executable,
            "-m",
            "uvicorn",
            "hivelight.asgi:application",
            "--host",
            args.host,
            "--port",
            str(args.port),
            "--workers",
            str(args.web),
            # Django and channels answer no lifespan messages.
            "--lifespan",
            "off",
            "--no-access-log",
            "--timeout-graceful-shutdown",
            "5",
            "--log-level",
            level,
        ],
        env,
    )


def start_dynamo(shape: Shape, args: argparse.Namespace, env: dict[str, str]) -> str:
    url = env.get("DYNAMODB_ENDPOINT_URL") or f"http://127.0.0.1:{args.dynamo_port}"
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    if port_open(host, port):
        print(f"DynamoDB already answering at {url}; reusing it", flush=True)
        return url
    command = [sys.executable, "-m", "events_app.store.local", "--port", str(port)]
    if args.dynamo_in_memory:
        where = "in memory"
    else:
        data = Path(args.data_dir) / "dynamodb"
        data.mkdir(parents=True, exist_ok=True)
        command += ["--db-path", str(data)]
        where = f"data in {data}"
    print(f"starting DynamoDB Local at {url} ({where})", flush=True)
    shape.start("dynamodb", command, env)
    deadline = time.monotonic() + 60
    while not port_open(host, port):
        if shape.exited() or time.monotonic() > deadline:
            raise RuntimeError("DynamoDB Local did not start")
        time.sleep(0.2)
    return url


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m hivelight.serve", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--web", type=int, default=2, help="ASGI worker processes")
    parser.add_argument("--workers", type=int, default=2, help="Celery worker nodes")
    parser.add_argument(
        "--worker-concurrency", type=int, default=1, help="processes per node"
    )
    parser.add_argument(
        "--db-pool", type=int, default=4, help="database connections per process"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--dynamo-port", type=int, default=8001)
    parser.add_argument("--dynamo-in-memory", action="store_true")
    parser.add_argument(
        "--data-dir",
        default=os.environ.get("HIVELIGHT_DATA_DIR", str(ROOT / ".data")),
    )
    parser.add_argument("--no-seed", dest="seed", action="store_false")
    parser.add_argument(
        "--history-days",
        type=int,
        help="days of demo history to seed (seed_demo's default: a year)",
    )
    parser.add_argument(
        "--no-outbound", dest="outbound", action="store_false", help="no webhooks"
    )
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    if args.web < 1 or args.workers < 1:
        parser.error("--web and --workers must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    Path(args.data_dir).mkdir(parents=True, exist_ok=True)
    check_services(dict(os.environ))
    shape = Shape()

    def _stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        dynamo_url = start_dynamo(shape, args, dict(os.environ))
        env = child_env(args, dynamo_url)
        prepare(env, seed=args.seed, history_days=args.history_days)
        print(
            f"starting {args.web} web, {args.workers} worker(s), beat"
            + (", outbound" if args.outbound else ""),
            flush=True,
        )
        start_shape(shape, args, env)
        while not port_open(args.host, args.port):
            if shape.exited():
                break
            time.sleep(0.2)
        else:
            print(
                f"serving http://{args.host}:{args.port}/  "
                f"({args.web} web, {args.workers} worker(s); Ctrl-C stops all)",
                flush=True,
            )
        while (gone := shape.exited()) is None:
            time.sleep(0.5)
        print(f"{gone[0]} exited ({gone[1]}); stopping the rest", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        shape.stop()
        print("stopped", flush=True)


if __name__ == "__main__":
    sys.exit(main())
