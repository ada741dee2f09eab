"""Sending one webhook: the SSRF guard at send time, TLS, redirects, limits.

Against a real receiver on loopback. DNS is the one thing replaced
(`delivery.resolve`), since no name server can be run here: it shows what a
rebinding answer at send time does.
"""

from __future__ import annotations

import time

import pytest
import trustme

from events_app.webhooks import delivery
from tests.events_app.webhooks.receiver import Receiver, Reply, running_receiver

BODY = b'{"id":"e1"}'


def post(url: str) -> delivery.Result:
    return delivery.post(url, body=BODY, headers={"webhook-id": "e1"})


@pytest.fixture
def only_public(settings):
    """Production's rule: nothing but public addresses."""
    settings.WEBHOOK_ALLOWED_NETWORKS = []


@pytest.fixture
def fake_dns(monkeypatch):
    answers: dict[str, list[str]] = {}
    real = delivery.resolve

    def resolve(host: str, port: int) -> list[str]:
        return answers[host] if host in answers else real(host, port)

    monkeypatch.setattr(delivery, "resolve", resolve)
    return answers


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("10.1.2.3", "a private address"),
        ("172.16.0.9", "a private address"),
        ("192.168.1.1", "a private address"),
        ("127.0.0.1", "a loopback address"),
        ("::1", "a loopback address"),
        ("::ffff:127.0.0.1", "a loopback address"),
        ("169.254.10.10", "a link-local address"),
        ("fe80::1", "a link-local address"),
        ("169.254.169.254", "a cloud metadata address"),
        ("fd00:ec2::254", "a cloud metadata address"),
        ("fd12:3456::1", "a private address"),
        ("100.64.0.1", "not a public address"),
        ("0.0.0.0", "an unspecified address"),  # noqa: S104 (an address to refuse)
        ("224.0.0.1", "a multicast address"),
        ("2002:7f00:1::", "a loopback address"),  # 6to4 around 127.0.0.1
    ],
)
def test_addresses_that_are_not_public_are_refused(only_public, address, why) -> None:
    assert delivery.refusal(address) == why


def test_public_addresses_pass(only_public) -> None:
    assert delivery.refusal("93.184.216.34") == ""
    assert delivery.refusal("2606:2800:220:1:248:1893:25c8:1946") == ""


def test_metadata_addresses_stay_refused_whatever_is_allowed(settings) -> None:
    settings.WEBHOOK_ALLOWED_NETWORKS = ["169.254.0.0/16", "fd00::/8"]

    assert delivery.refusal("169.254.169.254") == "a cloud metadata address"
    assert delivery.refusal("fd00:ec2::254") == "a cloud metadata address"
    assert delivery.refusal("169.254.1.1") == ""


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/x", "must start with https://"),
        ("https://user:pw@example.com/", "no user name or password"),
        ("https:///path", "no host name"),
        ("https://example.com:99999/", "not a valid URL"),
        ("https://example.com/#frag", "fragment"),
    ],
)
def test_urls_of_the_wrong_shape_are_refused(url, message) -> None:
    with pytest.raises(delivery.UnsafeDestination, match=message):
        delivery.check_url(url)


def test_http_is_refused_where_https_is_required(settings) -> None:
    settings.WEBHOOK_REQUIRE_HTTPS = True

    with pytest.raises(delivery.UnsafeDestination, match="must start with https://"):
        delivery.check_url("http://example.com/hook")
    assert delivery.check_url("https://example.com/hook?a=1") == (
        "https",
        "example.com",
        443,
        "/hook?a=1",
    )


def test_a_name_that_resolves_to_a_private_address_at_send_time_is_not_contacted(
    receiver: Receiver, only_public, fake_dns
) -> None:
    fake_dns["hooks.example.test"] = ["93.184.216.34"]
    assert delivery.destination(f"http://hooks.example.test:{receiver.port}/")
    # The name now answers with the receiver's own loopback (DNS rebinding).
    fake_dns["hooks.example.test"] = ["127.0.0.1"]

    result = post(f"http://hooks.example.test:{receiver.port}/hook")

    assert result.status_code is None
    assert result.error == (
        "Refused: “hooks.example.test” resolves to 127.0.0.1, a loopback address: "
        "Hivelight sends webhooks only to public internet addresses."
    )
    assert receiver.requests == []


def test_one_private_answer_among_public_ones_is_enough_to_refuse(
    only_public, fake_dns
) -> None:
    fake_dns["mixed.example.test"] = ["93.184.216.34", "10.0.0.8"]

    with pytest.raises(delivery.UnsafeDestination, match=r"10\.0\.0\.8, a private"):
        delivery.destination("https://mixed.example.test/")


def test_the_request_goes_to_the_checked_address_with_the_urls_host(
    receiver: Receiver, fake_dns
) -> None:
    fake_dns["receiver.example.test"] = ["127.0.0.1"]

    result = post(f"http://receiver.example.test:{receiver.port}/hook?x=1")

    assert result.succeeded
    [request] = receiver.requests
    assert request.headers["host"] == f"receiver.example.test:{receiver.port}"
    assert request.path == "/hook?x=1"
    assert request.headers["content-type"] == "application/json"
    assert request.body == BODY


@pytest.fixture
def tls_ca(settings, tmp_path):
    ca = trustme.CA()
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    settings.WEBHOOK_CA_BUNDLE = str(bundle)
    return ca


def _tls_receiver(ca: trustme.CA, name: str) -> Receiver:
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(name).configure_cert(context)
    return Receiver().start(tls=context)


def test_https_verifies_the_certificate_against_the_urls_host(tls_ca, fake_dns) -> None:
    fake_dns["secure.example.test"] = ["127.0.0.1"]
    good = _tls_receiver(tls_ca, "secure.example.test")
    wrong = _tls_receiver(tls_ca, "someone-else.example.test")
    try:
        ok = post(f"https://secure.example.test:{good.port}/hook")
        refused = post(f"https://secure.example.test:{wrong.port}/hook")
    finally:
        good.stop()
        wrong.stop()

    assert ok.succeeded, ok.error
    assert good.requests[0].headers["host"] == f"secure.example.test:{good.port}"
    assert refused.status_code is None
    assert refused.error.startswith("TLS certificate not accepted")
    assert "secure.example.test" in refused.error or "mismatch" in refused.error
    assert wrong.requests == []


def test_redirects_are_not_followed(receiver: Receiver) -> None:
    receiver.reply = lambda request, n: Reply(
        status=302, body=b"", headers={"Location": "http://169.254.169.254/latest"}
    )

    result = post(receiver.url())

    assert not result.succeeded
    assert result.status_code == 302
    assert result.error == (
        "Redirects are not followed (HTTP 302 to http://169.254.169.254/latest)."
    )
    assert len(receiver.requests) == 1


def test_a_receiver_that_does_not_answer_in_time_is_given_up(
    receiver: Receiver, settings
) -> None:
    settings.WEBHOOK_READ_TIMEOUT = 0.5
    receiver.reply = lambda request, n: Reply(delay=3)

    started = time.monotonic()
    result = post(receiver.url())

    assert time.monotonic() - started < 2
    assert result.status_code is None
    assert result.error == "No full answer within 0.5 s."


def test_an_answer_trickling_in_is_cut_at_the_deadline(settings) -> None:
    """A receiver sending its answer a byte at a time cannot hold an attempt."""
    import socket
    import threading

    settings.WEBHOOK_READ_TIMEOUT = 0.8
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def trickle() -> None:
        conn, _ = server.accept()
        conn.recv(65536)
        try:
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 100:
                conn.sendall(bytes([byte]))
                time.sleep(0.1)
        except OSError:
            pass
        finally:
            conn.close()

    threading.Thread(target=trickle, daemon=True).start()
    started = time.monotonic()
    result = post(f"http://127.0.0.1:{port}/")
    server.close()

    assert time.monotonic() - started < 2
    assert result.error == "No full answer within 0.8 s."


def test_a_large_answer_is_read_only_up_to_the_cap(
    receiver: Receiver, settings
) -> None:
    settings.WEBHOOK_MAX_RESPONSE_BYTES = 4096
    receiver.reply = lambda request, n: Reply(body=b"x" * 5_000_000)

    result = post(receiver.url())

    assert result.succeeded
    assert result.excerpt == "x" * delivery.EXCERPT_CHARS


def test_a_closed_port_is_a_clear_error() -> None:
    import socket

    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]

    result = post(f"http://127.0.0.1:{port}/")

    assert result.status_code is None
    assert result.error == "Connection refused."


def test_error_answers_keep_their_code_and_the_start_of_their_body(
    receiver: Receiver,
) -> None:
    receiver.reply = lambda request, n: Reply(status=503, body=b"maintenance until 6pm")

    result = post(receiver.url())

    assert not result.succeeded
    assert (result.status_code, result.error) == (503, "HTTP 503 Service Unavailable")
    assert result.excerpt == "maintenance until 6pm"


def test_loopback_is_refused_unless_allowed(only_public) -> None:
    with running_receiver() as receiver:
        result = post(receiver.url())

        assert result.error.startswith("Refused: 127.0.0.1 is a loopback address")
        assert receiver.requests == []
