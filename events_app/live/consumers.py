"""The websocket consumer: one per open page, joining the groups it may see.

Protocol (JSON text frames):

- The server speaks first, after accepting a logged-in user:
  `{"kind": "hello", "channel": <this socket's channel name>, "user_id": N}`.
  The page sends the channel name back as the `X-Live-Client` header of its
  own requests, so the events they cause skip this socket (no echo).
- The page asks: `{"subscribe": "matter", "id": N}`,
  `{"subscribe": "activity", "user_id": N}` or
  `{"subscribe": "matter_activity", "matter_id": N}` (a matter's calendar);
  and `{"unsubscribe": ...}` with the same fields. Answers:
  `{"kind": "subscribed" | "unsubscribed", ...}` or
  `{"kind": "error", "message": ...}`. A refused join says no more than
  "no such matter", whether the matter is in another firm, walled off or
  absent, just as the pages answer 404.
- Group messages (`live.message`, see `events_app.live.groups`) arrive as
  the JSON text they carry.

Anonymous sockets are accepted and closed at once with code 4401, so the
page can tell "logged out" (stop retrying) from a network failure.
"""

from __future__ import annotations

import json
import logging
import random
import time
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from events_app.live import groups
from tasks_app import selectors
from tasks_app.models import Matter, User

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_REVOKED = 4403
MAX_MESSAGE_CHARS = 2000
MAX_GROUPS = 50
# How long a permission check holds before the next message through that
# group re-checks it (a wall put up, a user deactivated, a session ended).
RECHECK_SECONDS = 30.0
# Each check is dated up to this much earlier than it ran, at random: the
# sockets on a board all receive the same message, and without it they would
# all re-check on the same one, every 30 s (200 sockets: 200 checks queued on
# the process's one database thread in front of that message).
RECHECK_SPREAD_SECONDS = RECHECK_SECONDS / 2
_MAX_ID = 2**63 - 1

SUBSCRIPTIONS = {
    # subscribe kind -> (id field in the request, group name builder)
    "matter": ("id", groups.matter_group),
    "activity": ("user_id", groups.activity_group),
    "matter_activity": ("matter_id", groups.matter_activity_group),
}
REFUSALS = {
    "matter": "No such matter.",
    "activity": "No such activity calendar.",
    "matter_activity": "No such matter.",
}


class LiveConsumer(AsyncWebsocketConsumer):
    """Forwards `live.message`s of the groups its user is allowed to see."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        await self.accept()
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.user_id: int = user.pk
        # group name -> time.monotonic() of its last permission check
        self.joined: dict[str, float] = {}
        await self._join(groups.user_group(self.user_id))
        await self._reply(
            {"kind": "hello", "channel": self.channel_name, "user_id": self.user_id}
        )

    async def disconnect(self, code: int) -> None:
        for group in list(getattr(self, "joined", {})):
            await self.channel_layer.group_discard(group, self.channel_name)
        self.joined = {}

    # --- from the browser --------------------------------------------------------

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None
    ) -> None:
        if not hasattr(self, "joined"):
            return  # closed as anonymous; nothing more to say
        request = self._parse(text_data, bytes_data)
        if isinstance(request, str):
            await self._error(request)
            return
        if "subscribe" in request:
            await self._subscribe(request)
        elif "unsubscribe" in request:
            await self._unsubscribe(request)
        elif request.get("ping") is not None:
            await self._reply({"kind": "pong", "ping": request["ping"]})
        else:
            await self._error("Unknown request: send subscribe or unsubscribe.")

    @staticmethod
    def _parse(text: str | None, data: bytes | None) -> dict[str, Any] | str:
        """The request as a dict, or the message explaining why it is not one."""
        if data is not None or text is None:
            return "Send JSON text, not binary frames."
        if len(text) > MAX_MESSAGE_CHARS:
            return f"Requests are at most {MAX_MESSAGE_CHARS} characters."
        try:
            request = json.loads(text)
        except ValueError:
            return "Requests must be JSON."
        if not isinstance(request, dict):
            return "A request is a JSON object."
        return request

    def _target(self, request: dict[str, Any], key: str) -> tuple[str, str, int] | str:
        """(kind, group, id) named by a (un)subscribe request, or an error."""
        kind = request.get(key)
        if not isinstance(kind, str) or kind not in SUBSCRIPTIONS:
            known = ", ".join(sorted(SUBSCRIPTIONS))
            return f"Unknown subscription {str(kind)[:40]!r}; use one of: {known}."
        field, group_of = SUBSCRIPTIONS[kind]
        ident = _positive_int(request.get(field))
        if ident is None:
            return f"{kind} subscriptions need {field!r}, a positive whole number."
        return kind, group_of(ident), ident

    async def _subscribe(self, request: dict[str, Any]) -> None:
        target = self._target(request, "subscribe")
        if isinstance(target, str):
            await self._error(target)
            return
        kind, group, ident = target
        field = SUBSCRIPTIONS[kind][0]
        if group not in self.joined:
            if len(self.joined) >= MAX_GROUPS:
                await self._error("Too many subscriptions on one connection.")
                return
            if not await database_sync_to_async(may_join)(self.user_id, group):
                await self._error(REFUSALS[kind], subscribe=kind, **{field: ident})
                return
            await self._join(group)
        await self._reply({"kind": "subscribed", "subscribe": kind, field: ident})

    async def _unsubscribe(self, request: dict[str, Any]) -> None:
        target = self._target(request, "unsubscribe")
        if isinstance(target, str):
            await self._error(target)
            return
        kind, group, ident = target
        await self._leave(group)
        field = SUBSCRIPTIONS[kind][0]
        await self._reply({"kind": "unsubscribed", "unsubscribe": kind, field: ident})

    # --- from the channel layer -----------------------------------------------------

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Forward group messages without a trip to the database thread.

        Channels runs Django's `close_old_connections` before every message's
        handler, on the process's one thread for database work. A board
        message reaches every socket on the board: 100 sockets in a process
        meant 100 trips through that thread, one after another, and every
        other socket's message (Bob's notification) waited behind them (issue
        13's fan-out). Forwarding needs no database; its occasional
        permission re-check goes through `database_sync_to_async`, which
        closes old connections itself, before and after.
        """
        if message.get("type") == groups.MESSAGE_TYPE:
            await self.live_message(message)
        else:
            await super().dispatch(message)

    async def live_message(self, message: dict[str, Any]) -> None:
        """Forward a group message's JSON text, unless this tab caused it."""
        if message.get("exclude_channel") == self.channel_name:
            return
        group = message.get("group")
        # Messages queued before a group was left (a wall went up, the page
        # unsubscribed) still arrive: only groups this socket is in pass.
        if group not in getattr(self, "joined", {}):
            return
        if not await self._still_allowed(group):
            return
        text = message.get("text")
        if isinstance(text, str):
            await self.send(text_data=text)

    async def _still_allowed(self, group: str) -> bool:
        """Re-check a group's permission when the last check has grown old."""
        if time.monotonic() - self.joined[group] < RECHECK_SECONDS:
            return True
        verdict = await database_sync_to_async(self._recheck)(group)
        if verdict == "logged out":
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return False
        if verdict == "allowed":
            self.joined[group] = _checked_now()
            return True
        if group == groups.user_group(self.user_id):
            await self.close(code=CLOSE_REVOKED)
            return False
        await self._leave(group)
        await self._reply({"kind": "revoked", "group": group})
        return False

    def _recheck(self, group: str) -> str:
        """ "logged out", "allowed" or "refused": one trip to the database thread."""
        if not self._session_alive():
            return "logged out"
        return "allowed" if may_join(self.user_id, group) else "refused"

    def _session_alive(self) -> bool:
        """Whether the login behind this socket still holds (not logged out)."""
        session = self.scope.get("session")
        key = getattr(session, "session_key", None)
        return bool(key) and session.exists(key)

    # --- helpers ---------------------------------------------------------------

    async def _join(self, group: str) -> None:
        await self.channel_layer.group_add(group, self.channel_name)
        self.joined[group] = _checked_now()

    async def _leave(self, group: str) -> None:
        if self.joined.pop(group, None) is not None:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def _reply(self, payload: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(payload, separators=(",", ":")))

    async def _error(self, text: str, **context: Any) -> None:
        await self._reply({"kind": "error", "message": text, **context})


def _checked_now() -> float:
    """When a check that passed now counts as made (see RECHECK_SPREAD_SECONDS):
    never later than now, so no check is older than RECHECK_SECONDS."""
    return time.monotonic() - random.uniform(0, RECHECK_SPREAD_SECONDS)


def may_join(user_id: int, group: str) -> bool:
    """Whether the user may be in `group`: the same rules as the pages.

    Reads the user afresh (membership, walls and activity flags change while
    a socket stays open).
    """
    viewer = (
        User.objects.select_related("membership")
        .filter(pk=user_id, is_active=True)
        .first()
    )
    if viewer is None:
        return False
    kind, _, ident = group.partition(".")
    prefix = kind + "."
    target = _positive_int(ident)
    if target is None:
        return False
    if prefix == groups.USER_PREFIX:
        return target == viewer.pk
    if prefix in (groups.MATTER_PREFIX, groups.MATTER_ACTIVITY_PREFIX):
        matter = Matter.objects.filter(pk=target).first()
        return matter is not None and selectors.user_can_see_matter(
            user=viewer, matter=matter
        )
    if prefix == groups.ACTIVITY_PREFIX:
        subject = (
            User.objects.select_related("membership")
            .filter(pk=target, is_active=True)
            .first()
        )
        return subject is not None and selectors.user_can_view_activity_of(
            viewer=viewer, subject=subject
        )
    return False


def _positive_int(value: Any) -> int | None:
    """A positive id from JSON (a number or a string of digits), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if isinstance(value, int) and 0 < value <= _MAX_ID:
        return value
    return None
