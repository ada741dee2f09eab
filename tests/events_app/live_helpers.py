"""Helpers for websocket tests: sockets through the real ASGI application.

Sockets go through `hivelight.asgi.application` (origin check, session
authentication, routing), carrying the session cookie of a user logged in
with Django's test client, as a browser would.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

ORIGIN = b"http://testserver"


def session_key(user: Any) -> str:
    """Log `user` in (a fresh session) and return its cookie value."""
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


async def open_socket(
    key: str | None = None, *, origin: bytes = ORIGIN
) -> tuple[WebsocketCommunicator, bool]:
    """Connect to ws/live/ with the session `key` (None: anonymous)."""
    from hivelight.asgi import application

    headers = [(b"origin", origin), (b"host", b"testserver")]
    if key:
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={key}".encode()))
    socket = WebsocketCommunicator(application, "/ws/live/", headers=headers)
    connected, _ = await socket.connect(timeout=5)
    return socket, connected


async def open_hello(key: str) -> tuple[WebsocketCommunicator, dict[str, Any]]:
    """A logged-in socket and its hello message."""
    socket, connected = await open_socket(key)
    assert connected
    hello = await socket.receive_json_from(timeout=5)
    assert hello["kind"] == "hello"
    return socket, hello


async def request(
    socket: WebsocketCommunicator, message: dict[str, Any], timeout: float = 5
) -> dict[str, Any]:
    await socket.send_json_to(message)
    return await socket.receive_json_from(timeout=timeout)


def run_async(func: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
    """Let a sync pytest test body be a coroutine (no pytest-asyncio here).

    Database calls made with `sync_to_async` run in the test's own thread,
    so they see what the test wrote.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return async_to_sync(func)(*args, **kwargs)

    return wrapper
