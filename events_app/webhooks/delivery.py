"""Sending one webhook: the address checked at send time, then one POST.

The guard against server-side request forgery (`destination`):

- http or https only, and https only where WEBHOOK_REQUIRE_HTTPS (on when
  DEBUG=0); no user name or password in the URL.
- The host is resolved here, at send time, and every address it resolves to
  must be public: loopback, private, link-local, shared, reserved and
  multicast addresses are refused unless inside WEBHOOK_ALLOWED_NETWORKS
  (`make run` and the tests allow loopback). Cloud metadata addresses are
  refused always.
- The connection goes to the checked address itself, so a second DNS answer
  cannot send it elsewhere (DNS rebinding). HTTPS still verifies the
  certificate against the URL's host name (SNI and hostname check), and the
  Host header is the URL's.
- Redirects are never followed (http.client does not), a 3xx is a failure.
- WEBHOOK_CONNECT_TIMEOUT bounds the connection; WEBHOOK_READ_TIMEOUT bounds
  everything after it, the whole answer included (a watchdog closes the
  socket at that deadline, so a receiver trickling bytes cannot hold on).
- At most WEBHOOK_MAX_RESPONSE_BYTES of the answer are read, and its first
  EXCERPT_CHARS characters kept.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

EXCERPT_CHARS = 1000
USER_AGENT = "Hivelight-Webhooks/1"
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Instance metadata services (AWS, ECS, GCP/Azure share 169.254.169.254,
# Alibaba): never a webhook receiver, whatever is allowed.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200")
)


class UnsafeDestination(ValueError):
    """The URL may not be sent to; the message says why, for a person."""


@dataclass(frozen=True)
class Destination:
    """A checked URL: where to connect (`addresses`) and what to ask for."""

    scheme: str
    host: str
    port: int
    path: str
    addresses: tuple[str, ...]


@dataclass(frozen=True)
class Result:
    """What one attempt got: a status code, or an error, and how long it took."""

    status_code: int | None
    excerpt: str
    error: str
    duration_ms: int

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to now (one DNS lookup)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: dict[str, None] = {}
    for info in infos:
        seen.setdefault(str(info[4][0]), None)
    return list(seen)


def _allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [
        ipaddress.ip_network(net, strict=False)
        for net in settings.WEBHOOK_ALLOWED_NETWORKS
    ]


def refusal(address: IPAddress | str) -> str:
    """Why an address is refused ("a private address"), or "" if it is fine."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo or (None, None))[1]
        if embedded is not None:
            return refusal(embedded)
    if ip in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if any(ip in net for net in _allowed_networks()):
        return ""
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_private:
        return "a private address"
    if not ip.is_global:
        return "not a public address"
    return ""


def check_url(url: str) -> tuple[str, str, int, str]:
    """The URL's scheme, host, port and path, or UnsafeDestination."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise UnsafeDestination(f"That is not a valid URL ({exc}).") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UnsafeDestination("The URL must start with https:// (or http://).")
    if scheme == "http" and settings.WEBHOOK_REQUIRE_HTTPS:
        raise UnsafeDestination("The URL must start with https://.")
    if parts.username is not None or parts.password is not None:
        raise UnsafeDestination(
            "Put no user name or password in the URL: receivers check the "
            "signature instead."
        )
    if not parts.hostname:
        raise UnsafeDestination("The URL has no host name.")
    if parts.fragment:
        raise UnsafeDestination("The URL may not contain a # fragment.")
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return scheme, parts.hostname, port or (443 if scheme == "https" else 80), path


def destination(url: str) -> Destination:
    """Check the URL and resolve its host now; every address must be allowed."""
    scheme, host, port, path = check_url(url)
    try:
        addresses = resolve(host, port)
    except (OSError, UnicodeError) as exc:
        raise UnsafeDestination(f"The host “{host}” could not be found.") from exc
    if not addresses:
        raise UnsafeDestination(f"The host “{host}” could not be found.")
    for address in addresses:
        why = refusal(address)
        if why:
            where = (
                f"{address} is {why}"
                if host == address
                else f"“{host}” resolves to {address}, {why}"
            )
            raise UnsafeDestination(
                f"{where}: Hivelight sends webhooks only to public internet addresses."
            )
    return Destination(scheme, host, port, path, tuple(addresses))


def post(url: str, *, body: bytes, headers: dict[str, str]) -> Result:
    """POST `body` once, through the guard. Never raises for the receiver's
    failures: they come back as `Result.error`."""
    started = time.monotonic()
    try:
        target = destination(url)
    except UnsafeDestination as exc:
        return Result(None, "", f"Refused: {exc}", _ms(started))
    try:
        status, excerpt, error = _send(target, body=body, headers=headers)
    except Exception as exc:  # the receiver's fault, told to the admin
        return Result(None, "", _describe(exc), _ms(started))
    return Result(status, excerpt, error, _ms(started))


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _connect(target: Destination) -> socket.socket:
    """A TCP connection to the first checked address that answers."""
    last: OSError | None = None
    for address in target.addresses:
        try:
            return socket.create_connection(
                (address, target.port), timeout=settings.WEBHOOK_CONNECT_TIMEOUT
            )
        except OSError as exc:
            last = exc
    assert last is not None
    raise last


def _tls_context() -> ssl.SSLContext:
    return ssl.create_default_context(cafile=settings.WEBHOOK_CA_BUNDLE or None)


def _host_header(target: Destination) -> str:
    host = f"[{target.host}]" if ":" in target.host else target.host
    default = 443 if target.scheme == "https" else 80
    return host if target.port == default else f"{host}:{target.port}"


def _send(
    target: Destination, *, body: bytes, headers: dict[str, str]
) -> tuple[int, str, str]:
    raw = _connect(target)
    deadline = settings.WEBHOOK_READ_TIMEOUT
    # Closes the socket at the deadline, whatever read is blocked on it.
    expired = threading.Event()
    # The socket in use: wrapping it for TLS takes over the raw one's file.
    current = [raw]
    watchdog = threading.Timer(deadline, _abort, args=(current, expired))
    watchdog.daemon = True
    watchdog.start()
    sock: socket.socket = raw
    try:
        sock.settimeout(deadline)
        if target.scheme == "https":
            sock = _tls_context().wrap_socket(raw, server_hostname=target.host)
            current[0] = sock
        # The connection is already made to the checked address: http.client
        # only writes the request (Host: the URL's host) and reads the answer.
        conn = http.client.HTTPConnection(target.host, target.port)
        conn.sock = sock
        conn.request(
            "POST",
            target.path,
            body=body,
            headers={
                **headers,
                "Host": _host_header(target),
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                "Connection": "close",
            },
        )
        response = conn.getresponse()
        data = _read_capped(response, settings.WEBHOOK_MAX_RESPONSE_BYTES)
        status = response.status
        excerpt = data.decode("utf-8", errors="replace")[:EXCERPT_CHARS]
        error = ""
        if 300 <= status < 400:
            location = (response.getheader("Location") or "")[:200]
            error = f"Redirects are not followed (HTTP {status} to {location})."
        elif not 200 <= status < 300:
            error = f"HTTP {status} {response.reason}"[:200]
        return status, excerpt, error
    except Exception:
        if expired.is_set():
            raise TimeoutError(f"No full answer within {deadline:g} s.") from None
        raise
    finally:
        watchdog.cancel()
        with contextlib.suppress(OSError):
            sock.close()


def _read_capped(response: http.client.HTTPResponse, cap: int) -> bytes:
    """At most `cap` bytes of the body; the rest is never read."""
    chunks: list[bytes] = []
    total = 0
    while total < cap:
        chunk = response.read1(min(16384, cap - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def _abort(current: list[socket.socket], expired: threading.Event) -> None:
    """Shut the connection down at the TCP level: blocked reads return at once."""
    expired.set()
    with contextlib.suppress(OSError):
        socket.socket.shutdown(current[0], socket.SHUT_RDWR)


def _describe(exc: BaseException) -> str:
    """One line a firm's IT person can act on."""
    if isinstance(exc, TimeoutError):
        text = str(exc) if str(exc) and "timed out" not in str(exc) else ""
        return text or "Timed out waiting for the receiver."
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate not accepted: {exc.verify_message or exc}"[:500]
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed: {exc}"[:500]
    if isinstance(exc, ConnectionRefusedError):
        return "Connection refused."
    if isinstance(exc, http.client.HTTPException | ConnectionError):
        return f"The receiver broke the connection ({type(exc).__name__})."
    return f"{type(exc).__name__}: {exc}"[:500]
