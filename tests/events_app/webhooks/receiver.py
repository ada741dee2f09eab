"""A real webhook receiver on loopback, as a firm's system would run one.

A threaded HTTP server (optionally HTTPS) in the test process. Per request it
verifies the Standard Webhooks signature with the standard's own verifier
(`standardwebhooks.Webhook.verify`), asks `reply` what to answer, and, when
it answers 2xx, processes the message once per `webhook-id`: a message it
already processed is a duplicate (allowed by the standard: at least once),
counted and not processed again.
"""

from __future__ import annotations

import contextlib
import json
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Reply:
    status: int = 200
    body: bytes = b"ok"
    delay: float = 0.0  # seconds before answering
    # Answer only after the delay, but process (count) the message first, as
    # a receiver that did the work and then was too slow to say so.
    process_before_delay: bool = False
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: float
    verified: bool
    received_at_wall: float = 0.0
    verify_error: str = ""

    @property
    def webhook_id(self) -> str:
        return self.headers.get("webhook-id", "")

    @property
    def payload(self) -> dict[str, Any]:
        return json.loads(self.body)


class Receiver:
    """`url(path)`, `requests`, `processed` (id -> payload), `duplicates`."""

    def __init__(self, *, secrets: dict[str, list[str]] | None = None) -> None:
        # Secrets per path; a path without one is not verified.
        self.secrets: dict[str, list[str]] = dict(secrets or {})
        self.reply: Callable[[Request, int], Reply] = lambda request, n: Reply()
        self.requests: list[Request] = []
        self.processed: dict[str, dict[str, Any]] = {}
        self.processed_at: dict[str, float] = {}
        self.duplicates: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None
        self.scheme = "http"

    # --- lifecycle -------------------------------------------------------------

    def start(self, *, tls: ssl.SSLContext | None = None) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                receiver._handle(self)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.server_address[1]

    def url(self, path: str = "/hook", host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    # --- what arrived ------------------------------------------------------------

    def on(self, path: str) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if r.path == path]

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = predicate()
            if result:
                return result
            time.sleep(0.02)
        raise AssertionError(f"receiver: not true within {timeout} s")

    # --- one request ---------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length)
        headers = {k.lower(): v for k, v in handler.headers.items()}
        verified, error = self._verify(handler.path, body, headers)
        request = Request(
            path=handler.path,
            headers=headers,
            body=body,
            received_at=time.monotonic(),
            verified=verified,
            verify_error=error,
            received_at_wall=time.time(),
        )
        with self.lock:
            self.requests.append(request)
            number = sum(1 for r in self.requests if r.path == handler.path)
        reply = self.reply(request, number)
        if reply.process_before_delay and 200 <= reply.status < 300:
            self._process(request)
        if reply.delay:
            time.sleep(reply.delay)
        if not reply.process_before_delay and 200 <= reply.status < 300:
            self._process(request)
        with contextlib.suppress(OSError):
            handler.send_response(reply.status)
            for name, value in reply.headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(reply.body)))
            handler.end_headers()
            handler.wfile.write(reply.body)

    def _verify(
        self, path: str, body: bytes, headers: dict[str, str]
    ) -> tuple[bool, str]:
        secrets = self.secrets.get(path)
        if not secrets:
            return False, "no secret for this path"
        errors = []
        for secret in secrets:
            try:
                Webhook(secret).verify(body, headers)
                return True, ""
            except WebhookVerificationError as exc:
                errors.append(str(exc))
        return False, "; ".join(errors)

    def _process(self, request: Request) -> None:
        if not request.verified:
            return
        with self.lock:
            if request.webhook_id in self.processed:
                self.duplicates[request.webhook_id] += 1
                return
            self.processed[request.webhook_id] = request.payload
            self.processed_at[request.webhook_id] = time.time()


@contextlib.contextmanager
def running_receiver(**kwargs: Any) -> Iterator[Receiver]:
    receiver = Receiver(**kwargs).start()
    try:
        yield receiver
    finally:
        receiver.stop()
