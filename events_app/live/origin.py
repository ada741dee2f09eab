"""Websockets from this site's own pages only: a same-origin check.

A socket carries the user's session cookie, so another site's page must not
open one. The Origin's scheme, host and port must be the socket's own (as
the browser reached it: `wss` is `https`, and behind a TLS proxy its
SECURE_PROXY_SSL_HEADER says so), and the host one of ALLOWED_HOSTS; or the
Origin is one of CSRF_TRUSTED_ORIGINS. That is the check Django makes of a
POST's origin; channels' AllowedHostsOriginValidator looks at the host alone.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host


def _header(scope: dict[str, Any], name: bytes) -> str:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin1")
    return ""


def _secure(scope: dict[str, Any]) -> bool:
    if scope.get("scheme") == "wss":
        return True
    proxy = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy:
        header, expected = proxy
        name = header.removeprefix("HTTP_").replace("_", "-").lower().encode()
        return _header(scope, name) == expected
    return False


def allowed_origin(scope: dict[str, Any]) -> bool:
    origin = _header(scope, b"origin")
    if not origin or origin == "null":
        return False
    if origin in settings.CSRF_TRUSTED_ORIGINS:
        return True
    host = _header(scope, b"host")
    domain, _ = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return False
    expected = f"{'https' if _secure(scope) else 'http'}://{host}"
    parsed = urlsplit(origin)
    return f"{parsed.scheme}://{parsed.netloc}".lower() == expected.lower()


class SameOriginValidator:
    """ASGI middleware refusing websockets whose Origin is not this site."""

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] == "websocket" and not allowed_origin(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)
