"""Reaching open browsers: group names and sends over the channel layer.

Every open page holds one websocket (`events_app.live.consumers.LiveConsumer`),
which joins groups: `user.<id>` (notifications), `matter.<id>` (a board) and
`activity.<id>` (a person's calendar) and `matter_activity.<id>` (a matter's
calendar). Anything that wants a page to react sends a `live.message` to
a group here: what changed and an id, and never data a member of the group
could not fetch itself through the same permission-checked views (a board
message carries the changed card: every socket in `matter.<id>` passed the
board's own check, and is re-checked before each forward).

The helpers are plain functions for sync code (views, Celery handlers in a
worker process, the shell); with channels-redis the message crosses
processes, with the in-memory layer it stays in the process (`make run`).
A channel layer that cannot be reached is logged and reported by the return
value, never raised: a missed live update is repaired by the page's re-sync,
while an exception here would fail the request or handler that sent it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import os
import re
import threading
from collections.abc import Coroutine
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer

logger = logging.getLogger(__name__)

# The channel-layer message type; the consumer's handler is `live_message`.
MESSAGE_TYPE = "live.message"

# Channel layers accept ASCII names of letters, digits, `-_.` (and one `!`
# in a channel name), shorter than 100 characters.
_CHANNEL_NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]+(![A-Za-z0-9_.\-]*)?$")
MAX_NAME_LENGTH = 99

USER_PREFIX = "user."
MATTER_PREFIX = "matter."
ACTIVITY_PREFIX = "activity."
MATTER_ACTIVITY_PREFIX = "matter_activity."


def user_group(user_id: int) -> str:
    """`user.<id>`: one person's notifications, in every tab they have open."""
    return f"{USER_PREFIX}{int(user_id)}"


def matter_group(matter_id: int) -> str:
    """`matter.<id>`: every open board of one matter."""
    return f"{MATTER_PREFIX}{int(matter_id)}"


def activity_group(user_id: int) -> str:
    """`activity.<id>`: every open activity calendar of one person."""
    return f"{ACTIVITY_PREFIX}{int(user_id)}"


def matter_activity_group(matter_id: int) -> str:
    """`matter_activity.<id>`: every open activity calendar of one matter."""
    return f"{MATTER_ACTIVITY_PREFIX}{int(matter_id)}"


def live_client_id(value: str | None) -> str:
    """A browser tab's channel name from its X-Live-Client header, or "".

    Anything that could not be a channel name is dropped rather than
    stored: the header is client input and ends up in the event's context.
    """
    value = (value or "").strip()
    if not value or len(value) > MAX_NAME_LENGTH or not _CHANNEL_NAME_RE.match(value):
        return ""
    return value


def message(
    group: str, payload: dict[str, Any], *, exclude_channel: str | None = None
) -> dict[str, Any]:
    """The channel-layer message the consumer forwards: `payload` as JSON text.

    Serialised once here, not once per socket: a board message (with its
    card) reaches every socket on the board, and encoding it per socket was
    a fifth of a web process's time in the fan-out benchmark. `group` rides
    along so a consumer can re-check, before forwarding, that its user may
    still see what the group is about.
    """
    text = json.dumps(payload, separators=(",", ":"))
    data: dict[str, Any] = {"type": MESSAGE_TYPE, "group": group, "text": text}
    if exclude_channel:
        data["exclude_channel"] = exclude_channel
    return data


def send_to_group(
    group: str, payload: dict[str, Any], *, exclude_channel: str | None = None
) -> bool:
    """Send `payload` to every socket in `group`; False if it could not be sent."""
    layer = get_channel_layer()
    if layer is None:
        return False
    try:
        _run(
            layer.group_send(
                group, message(group, payload, exclude_channel=exclude_channel)
            )
        )
    except Exception:
        logger.warning("live message to %s not sent", group, exc_info=True)
        return False
    return True


def send_to_user(user_id: int, payload: dict[str, Any]) -> bool:
    return send_to_group(user_group(user_id), payload)


def send_to_matter(
    matter_id: int, payload: dict[str, Any], exclude_channel: str | None = None
) -> bool:
    """Send to a matter's boards, except the tab named by `exclude_channel`."""
    return send_to_group(
        matter_group(matter_id), payload, exclude_channel=exclude_channel
    )


def send_to_activity(user_id: int, payload: dict[str, Any]) -> bool:
    return send_to_group(activity_group(user_id), payload)


def send_to_matter_activity(matter_id: int, payload: dict[str, Any]) -> bool:
    return send_to_group(matter_activity_group(matter_id), payload)


def _run(coroutine: Coroutine[Any, Any, Any]) -> None:
    """Run a channel-layer call from sync code, or schedule it from async code.

    From async code (a running loop in this thread) the send is scheduled
    and its failure logged when it happens. From sync code, an in-memory
    layer must be used on the loop that serves its consumers, which
    `async_to_sync` finds; any other layer is driven by this process's own
    sender loop, which keeps its Redis connections between sends instead of
    making a loop and a connection for each (a handler in a Celery worker
    sends once per event).
    """
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    if loop is not None:
        task = loop.create_task(coroutine)
        task.add_done_callback(_log_failure)
        return
    if isinstance(get_channel_layer(), InMemoryChannelLayer):
        async_to_sync(_awaited)(coroutine)
        return
    _sender.run(coroutine, timeout=SEND_TIMEOUT_SECONDS)


async def _awaited(coroutine: Coroutine[Any, Any, Any]) -> Any:
    return await coroutine


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.warning("live message not sent", exc_info=task.exception())


SEND_TIMEOUT_SECONDS = 5.0


class _SenderLoop:
    """An event loop in a daemon thread, one per process, for sends from sync code.

    Started on first use and again in a forked child (Celery's prefork pool
    forks after import; a thread does not survive a fork).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pid = 0

    def run(self, coroutine: Coroutine[Any, Any, Any], *, timeout: float) -> Any:
        future = asyncio.run_coroutine_threadsafe(coroutine, self._running_loop())
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            alive = self._thread is not None and self._thread.is_alive()
            if self._loop is None or self._pid != os.getpid() or not alive:
                self._loop = asyncio.new_event_loop()
                self._thread = threading.Thread(
                    target=self._loop.run_forever, name="live-sender", daemon=True
                )
                self._thread.start()
                self._pid = os.getpid()
            return self._loop


_sender = _SenderLoop()
