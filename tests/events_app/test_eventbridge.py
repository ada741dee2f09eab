"""Amazon EventBridge against moto's server: batches, partial failures, the relay.

What this proves: the PutEvents requests boto3 builds (ten entries at most,
Source, DetailType, Detail, Time, EventBusName) are accepted by moto's
implementation of the API and routed by a rule to a target (an SQS queue),
and the code handles an answer with `FailedEntryCount` entry by entry. A
fault proxy between boto3 and moto makes AWS's transient partial failures
(which moto never produces) and a lost answer, on the wire, with AWS's
response shape. What it does not prove: AWS's real limits and throttling,
IAM permissions, cross-account delivery, and latency.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.utils import timezone

from events_app import eventbridge
from events_app.context import acting_as
from events_app.models import EventBridgeEntry, OutboxEvent
from events_app.outbox import relay
from tests.fixtures.factories import World, make_task

pytestmark = [pytest.mark.django_db, pytest.mark.services]


class FaultProxy:
    """Forwards to moto; `fault(call_number, entries)` may change a PutEvents:

    - {"fail": {1, 4}}: those entries are not forwarded and are answered as
      failed (ErrorCode InternalFailure), the others as moto answered them;
    - {"lose_answer": True}: forwarded, then the connection is closed unanswered;
    - {"hang": seconds}: no answer for that long.
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = urlsplit(upstream)
        self.fault: Callable[[int, list[dict]], dict[str, Any]] = lambda n, e: {}
        self.calls: list[int] = []  # entries per PutEvents call
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                proxy._handle(self)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        target = handler.headers.get("X-Amz-Target", "")
        fault: dict[str, Any] = {}
        request = json.loads(body or b"{}")
        if target.endswith("PutEvents"):
            self.calls.append(len(request["Entries"]))
            fault = self.fault(len(self.calls), request["Entries"])
        if fault.get("hang"):
            time.sleep(fault["hang"])
            return
        failing = set(fault.get("fail", ()))
        if failing:
            kept = [e for i, e in enumerate(request["Entries"]) if i not in failing]
            body = json.dumps({**request, "Entries": kept}).encode()
        status, headers, answer = self._forward(handler, body)
        if fault.get("lose_answer"):
            handler.close_connection = True
            return
        if failing:
            upstream = iter(json.loads(answer)["Entries"])
            entries = [
                {"ErrorCode": "InternalFailure", "ErrorMessage": "Try again."}
                if i in failing
                else next(upstream)
                for i in range(len(request["Entries"]))
            ]
            answer = json.dumps(
                {"FailedEntryCount": len(failing), "Entries": entries}
            ).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", headers.get("Content-Type", ""))
        handler.send_header("Content-Length", str(len(answer)))
        handler.end_headers()
        handler.wfile.write(answer)

    def _forward(
        self, handler: BaseHTTPRequestHandler, body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port)
        headers = {
            k: v
            for k, v in handler.headers.items()
            if k.lower() not in ("content-length", "host")
        }
        conn.request("POST", handler.path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        conn.close()
        return response.status, dict(response.getheaders()), data


@pytest.fixture
def proxy(eventbridge_bus, settings) -> Iterator[FaultProxy]:
    running = FaultProxy(eventbridge_bus.moto)
    settings.EVENTBRIDGE_ENDPOINT_URL = running.url
    eventbridge.reset_client()
    try:
        yield running
    finally:
        running.stop()
        eventbridge.reset_client()


def relay_all() -> relay.RelayResult:
    result = relay.sweep(ignore_backoff=True)
    assert result.failed == 0, result.errors
    return result


def make_events(world: World, count: int) -> list[str]:
    """`count` task events through the services, relayed; their ids."""
    mark = OutboxEvent.objects.order_by("-seq").values_list("seq", flat=True).first()
    with acting_as(world.alice, source="web", client_id="specific.tab1"):
        for n in range(count):
            make_task(world.matter, f"Exhibit {n}", actor=world.alice)
    relay_all()
    return [
        str(pk)
        for pk in OutboxEvent.objects.filter(seq__gt=mark or 0).values_list(
            "event_id", flat=True
        )
    ]


def all_ids() -> list[str]:
    return [str(pk) for pk in OutboxEvent.objects.values_list("event_id", flat=True)]


def test_every_stored_event_is_put_on_the_bus_ten_at_a_time(
    event_store, world: World, eventbridge_bus, proxy: FaultProxy
) -> None:
    made = make_events(world, 24)
    ids = all_ids()  # the world's own events too (the firm, its people, ...)
    assert len(made) == 24 and len(ids) > 24
    assert EventBridgeEntry.objects.count() == len(ids)

    result = eventbridge.publish()

    assert (result.sent, result.failed) == (len(ids), 0)
    tens, rest = divmod(len(ids), 10)
    assert proxy.calls == [10] * tens + ([rest] if rest else [])
    received = eventbridge_bus.received()
    assert sorted(e["detail"]["id"] for e in received) == sorted(ids)
    one = next(e for e in received if e["detail"]["name"] == "task.created")
    assert one["source"] == "hivelight"
    assert one["detail-type"] == "task.created"
    stored = OutboxEvent.objects.get(event_id=one["detail"]["id"]).payload
    assert "client_id" not in one["detail"]["context"]
    assert one["detail"] == {
        **stored,
        "context": {k: v for k, v in stored["context"].items() if k != "client_id"},
    }
    assert not EventBridgeEntry.objects.filter(sent_at__isnull=True).exists()


def test_entries_eventbridge_refused_are_sent_again_and_none_twice(
    event_store, world: World, eventbridge_bus, proxy: FaultProxy
) -> None:
    make_events(world, 11)
    total = len(all_ids())  # with the world's own events (its people joining)
    proxy.fault = lambda n, entries: {"fail": {1, 4}} if n == 1 else {}

    first = eventbridge.publish()

    assert (first.sent, first.failed) == (total - 2, 2)
    waiting = list(EventBridgeEntry.objects.filter(sent_at__isnull=True))
    assert [(w.attempts, w.last_error) for w in waiting] == [
        (1, "InternalFailure: Try again.")
    ] * 2
    assert all(w.next_attempt_at > timezone.now() for w in waiting)
    assert eventbridge.publish().sent == 0  # not before their backoff
    EventBridgeEntry.objects.update(next_attempt_at=timezone.now())

    assert eventbridge.publish().sent == 2

    counts = Counter(e["detail"]["id"] for e in eventbridge_bus.received())
    assert counts == Counter(all_ids())


def test_a_lost_answer_means_sending_again_at_least_once(
    event_store, world: World, eventbridge_bus, proxy: FaultProxy, settings
) -> None:
    make_events(world, 4)
    proxy.fault = lambda n, entries: {"lose_answer": True} if n == 1 else {}

    eventbridge.publish()
    EventBridgeEntry.objects.update(next_attempt_at=timezone.now())
    eventbridge.publish()

    counts = Counter(e["detail"]["id"] for e in eventbridge_bus.received())
    assert set(counts) == set(all_ids())
    assert all(n >= 1 for n in counts.values())
    assert not EventBridgeEntry.objects.filter(sent_at__isnull=True).exists()


def test_an_eventbridge_that_hangs_holds_up_neither_the_relay_nor_the_publisher(
    event_store, world: World, eventbridge_bus, proxy: FaultProxy
) -> None:
    proxy.fault = lambda n, entries: {"hang": 30}
    with acting_as(world.alice, source="web"):
        for n in range(30):
            make_task(world.matter, f"Exhibit {n}", actor=world.alice)

    started = time.monotonic()
    relay_all()
    relayed_in = time.monotonic() - started

    assert relayed_in < 5
    assert not OutboxEvent.objects.filter(dispatched_at__isnull=True).exists()
    # The 30 tasks, and the world's own events (its people joining).
    assert EventBridgeEntry.objects.filter(sent_at__isnull=True).count() == len(
        all_ids()
    )

    started = time.monotonic()
    result = eventbridge.publish()

    # One call, its timeouts (read 5 s, two tries), then the rest wait.
    assert time.monotonic() - started < 12
    assert result.calls == 1 and result.sent == 0
    assert "timeout" in result.errors[0].lower()
    assert EventBridgeEntry.objects.filter(attempts=1).count() == 10


def test_nothing_is_forwarded_when_no_bus_is_configured(
    event_store, world: World, settings
) -> None:
    settings.EVENTBRIDGE_BUS_NAME = ""
    make_events(world, 3)

    assert not EventBridgeEntry.objects.exists()
    assert eventbridge.publish().calls == 0
