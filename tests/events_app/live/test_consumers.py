"""The websocket: who may connect, which groups they may join, what reaches them.

Through the real ASGI stack (origin check, session auth, routing) and the
configured channel layer (channels-redis when REDIS_URL is set, as in CI).
"""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer

from events_app.live import consumers
from events_app.live import groups as live
from tests.events_app.live_helpers import (
    open_hello,
    open_socket,
    request,
    run_async,
    session_key,
)
from tests.fixtures.factories import World

pytestmark = pytest.mark.django_db(transaction=True)

send_to_user = sync_to_async(live.send_to_user)
send_to_matter = sync_to_async(live.send_to_matter)
send_to_activity = sync_to_async(live.send_to_activity)
send_to_matter_activity = sync_to_async(live.send_to_matter_activity)


@pytest.fixture
def keys(world: World) -> dict[str, str]:
    return {
        name: session_key(getattr(world, name))
        for name in ("alice", "bob", "dora", "walt", "oscar")
    }


# --- connecting -------------------------------------------------------------------


@run_async
async def test_an_anonymous_socket_is_closed_with_4401(world: World) -> None:
    socket, connected = await open_socket(None)
    assert connected  # accepted only to say why it is closed
    assert await socket.receive_output(timeout=5) == {
        "type": "websocket.close",
        "code": consumers.CLOSE_UNAUTHENTICATED,
    }


@run_async
async def test_a_socket_from_another_site_is_refused(keys: dict[str, str]) -> None:
    _, connected = await open_socket(keys["alice"], origin=b"https://evil.test")
    assert not connected


@pytest.mark.parametrize(
    "origin",
    [
        b"https://testserver",  # another scheme
        b"http://testserver:8443",  # another port
        b"http://testserver.evil.test",
        b"null",
        b"",
    ],
)
@run_async
async def test_only_this_sites_own_origin_opens_a_socket(
    keys: dict[str, str], origin: bytes
) -> None:
    _, connected = await open_socket(keys["alice"], origin=origin)
    assert not connected


@run_async
async def test_a_logged_in_socket_hears_its_users_notifications_only(
    world: World, keys: dict[str, str]
) -> None:
    alice, hello = await open_hello(keys["alice"])
    bob, _ = await open_hello(keys["bob"])
    assert hello["user_id"] == world.alice.pk
    assert hello["channel"]

    await send_to_user(world.alice.pk, {"kind": "notification", "unread": 3})

    assert await alice.receive_json_from(timeout=5) == {
        "kind": "notification",
        "unread": 3,
    }
    assert await bob.receive_nothing(timeout=0.3)
    await alice.disconnect()
    await bob.disconnect()


# --- joining groups ---------------------------------------------------------------


@run_async
async def test_a_member_joins_a_matter_board_and_hears_it(
    world: World, keys: dict[str, str]
) -> None:
    bob, _ = await open_hello(keys["bob"])

    for matter in (world.matter, world.walled):
        reply = await request(bob, {"subscribe": "matter", "id": matter.pk})
        assert reply == {"kind": "subscribed", "subscribe": "matter", "id": matter.pk}
    await send_to_matter(world.walled.pk, {"kind": "board", "task_id": 7})

    assert await bob.receive_json_from(timeout=5) == {"kind": "board", "task_id": 7}
    await bob.disconnect()


@pytest.mark.parametrize(
    ("who", "matter"),
    [("walt", "walled"), ("oscar", "matter"), ("alice", "other_matter")],
    ids=["walled-off", "other-firm-user", "other-firms-matter"],
)
@run_async
async def test_a_matter_one_cannot_see_is_refused_like_one_that_does_not_exist(
    world: World, keys: dict[str, str], who: str, matter: str
) -> None:
    target = getattr(world, matter)
    socket, _ = await open_hello(keys[who])

    refused = await request(socket, {"subscribe": "matter", "id": target.pk})
    missing = await request(socket, {"subscribe": "matter", "id": 999_999_999})
    await send_to_matter(target.pk, {"kind": "board", "task_id": 1})

    assert refused == {
        "kind": "error",
        "message": "No such matter.",
        "subscribe": "matter",
        "id": target.pk,
    }
    assert missing["message"] == refused["message"]
    assert await socket.receive_nothing(timeout=0.3)
    await socket.disconnect()


@run_async
async def test_activity_calendars_follow_the_pages_rules(
    world: World, keys: dict[str, str]
) -> None:
    cases = [
        ("bob", world.bob, "subscribed"),  # one's own
        ("dora", world.bob, "subscribed"),  # a firm admin, in her firm
        ("bob", world.alice, "error"),  # a colleague's
        ("oscar", world.bob, "error"),  # another firm's
    ]
    for who, subject, kind in cases:
        socket, _ = await open_hello(keys[who])
        reply = await request(socket, {"subscribe": "activity", "user_id": subject.pk})
        assert reply["kind"] == kind, (who, subject)
        await socket.disconnect()

    dora, _ = await open_hello(keys["dora"])
    await request(dora, {"subscribe": "activity", "user_id": world.bob.pk})
    await send_to_activity(world.bob.pk, {"kind": "activity", "user_id": world.bob.pk})
    assert (await dora.receive_json_from(timeout=5))["kind"] == "activity"
    await dora.disconnect()


@run_async
async def test_a_matters_calendar_follows_the_matters_walls(
    world: World, keys: dict[str, str]
) -> None:
    cases = [
        ("bob", world.walled, "subscribed"),  # inside the wall
        ("alice", world.matter, "subscribed"),  # an open matter of the firm
        ("walt", world.walled, "error"),  # outside the wall
        ("dora", world.walled, "error"),  # a firm admin outside the wall
        ("oscar", world.matter, "error"),  # another firm's
    ]
    for who, matter, kind in cases:
        socket, _ = await open_hello(keys[who])
        reply = await request(
            socket, {"subscribe": "matter_activity", "matter_id": matter.pk}
        )
        assert reply["kind"] == kind, (who, matter)
        if kind == "error":
            assert reply["message"] == "No such matter."
        await socket.disconnect()

    bob, _ = await open_hello(keys["bob"])
    await request(bob, {"subscribe": "matter_activity", "matter_id": world.walled.pk})
    payload = {"kind": "matter_activity", "matter_id": world.walled.pk}
    await send_to_matter_activity(world.walled.pk, payload)
    assert await bob.receive_json_from(timeout=5) == payload
    await bob.disconnect()


@run_async
async def test_unsubscribing_stops_a_boards_messages(
    world: World, keys: dict[str, str]
) -> None:
    bob, _ = await open_hello(keys["bob"])
    await request(bob, {"subscribe": "matter", "id": world.matter.pk})

    reply = await request(bob, {"unsubscribe": "matter", "id": world.matter.pk})
    await send_to_matter(world.matter.pk, {"kind": "board"})

    assert reply == {
        "kind": "unsubscribed",
        "unsubscribe": "matter",
        "id": world.matter.pk,
    }
    assert await bob.receive_nothing(timeout=0.3)
    await bob.disconnect()


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        ("not json", "Requests must be JSON."),
        ("[1, 2]", "A request is a JSON object."),
        ('{"hello": 1}', "Unknown request: send subscribe or unsubscribe."),
        ('{"subscribe": "firm", "id": 1}', "Unknown subscription 'firm'"),
        ('{"subscribe": "matter", "id": "abc"}', "'id', a positive whole number"),
        ('{"subscribe": "matter", "id": true}', "'id', a positive whole number"),
        ('{"subscribe": "matter", "id": -4}', "'id', a positive whole number"),
        ('{"subscribe": "activity", "id": 4}', "'user_id', a positive whole number"),
        ("x" * 3000, "at most 2000 characters"),
        # Lists and objects where a name is expected: an error, not a crash.
        ('{"subscribe": ["matter"], "id": 1}', "Unknown subscription"),
        ('{"subscribe": {"a": 1}, "id": 1}', "Unknown subscription"),
        ('{"unsubscribe": [], "id": 1}', "Unknown subscription"),
        ('{"subscribe": "matter", "id": [1]}', "'id', a positive whole number"),
        ('{"subscribe": "matter", "id": {"x": 1}}', "'id', a positive whole number"),
    ],
)
@run_async
async def test_bad_requests_get_an_error_and_the_socket_stays_open(
    keys: dict[str, str], frame: str, message: str
) -> None:
    socket, _ = await open_hello(keys["alice"])

    await socket.send_to(text_data=frame)
    reply = await socket.receive_json_from(timeout=5)

    assert reply["kind"] == "error"
    assert message in reply["message"]
    assert await request(socket, {"ping": 1}) == {"kind": "pong", "ping": 1}
    await socket.disconnect()


# --- echo suppression and revocation ----------------------------------------------


@run_async
async def test_the_tab_that_made_a_change_is_spared_its_echo(
    world: World, keys: dict[str, str]
) -> None:
    first, hello = await open_hello(keys["alice"])
    second, _ = await open_hello(keys["alice"])
    for socket in (first, second):
        await request(socket, {"subscribe": "matter", "id": world.matter.pk})

    await send_to_matter(
        world.matter.pk, {"kind": "board", "task_id": 5}, hello["channel"]
    )

    assert await second.receive_json_from(timeout=5) == {"kind": "board", "task_id": 5}
    assert await first.receive_nothing(timeout=0.3)
    await first.disconnect()
    await second.disconnect()


@run_async
async def test_someone_walled_off_while_subscribed_stops_hearing_the_board(
    world: World, keys: dict[str, str], monkeypatch: Any
) -> None:
    bob, _ = await open_hello(keys["bob"])
    await request(bob, {"subscribe": "matter", "id": world.walled.pk})
    monkeypatch.setattr(consumers, "RECHECK_SECONDS", 0.0)

    await sync_to_async(world.walled.members.remove)(world.bob)
    await send_to_matter(world.walled.pk, {"kind": "board", "task_id": 9})

    group = live.matter_group(world.walled.pk)
    assert await bob.receive_json_from(timeout=5) == {"kind": "revoked", "group": group}
    await send_to_matter(world.walled.pk, {"kind": "board", "task_id": 10})
    assert await bob.receive_nothing(timeout=0.3)
    await bob.disconnect()


@run_async
async def test_board_messages_queued_behind_a_revocation_never_reach_the_socket(
    world: World, keys: dict[str, str], monkeypatch: Any
) -> None:
    bob, _ = await open_hello(keys["bob"])
    await request(bob, {"subscribe": "matter", "id": world.walled.pk})
    monkeypatch.setattr(consumers, "RECHECK_SECONDS", 0.0)
    await sync_to_async(world.walled.members.remove)(world.bob)

    # Queued at once: the first one's check revokes, the rest were already
    # on their way to this socket's channel.
    for task_id in range(20, 26):
        await send_to_matter(world.walled.pk, {"kind": "board", "task_id": task_id})

    group = live.matter_group(world.walled.pk)
    assert await bob.receive_json_from(timeout=5) == {"kind": "revoked", "group": group}
    assert await bob.receive_nothing(timeout=0.5)
    await bob.disconnect()


@run_async
async def test_logging_out_elsewhere_closes_the_socket(
    world: World, keys: dict[str, str], monkeypatch: Any
) -> None:
    from django.contrib.sessions.models import Session

    bob, _ = await open_hello(keys["bob"])
    monkeypatch.setattr(consumers, "RECHECK_SECONDS", 0.0)

    await sync_to_async(Session.objects.filter(session_key=keys["bob"]).delete)()
    await send_to_user(world.bob.pk, {"kind": "notification", "unread": 1})

    assert await bob.receive_output(timeout=5) == {
        "type": "websocket.close",
        "code": consumers.CLOSE_UNAUTHENTICATED,
    }


def test_group_names_are_valid_channel_layer_names() -> None:
    layer = get_channel_layer()
    big = 2**63 - 1
    for name in (
        live.user_group(big),
        live.matter_group(big),
        live.activity_group(1),
        live.matter_activity_group(big),
    ):
        assert layer.require_valid_group_name(name)
        assert name.isascii() and len(name) < 100


def test_a_live_client_header_must_look_like_a_channel_name() -> None:
    assert live.live_client_id("specific.abc123!def456") == "specific.abc123!def456"
    assert live.live_client_id(" specific.x!y ") == "specific.x!y"
    for bad in ("", "has space", "a" * 100, "é!x", "a!b!c", None):
        assert live.live_client_id(bad) == ""


def test_sending_with_no_reachable_layer_is_logged_not_raised(
    settings: Any, caplog: Any
) -> None:
    from channels.layers import channel_layers

    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"]},
        }
    }
    channel_layers.backends.pop("default", None)
    try:
        assert live.send_to_user(1, {"kind": "notification"}) is False
    finally:
        channel_layers.backends.pop("default", None)
    assert "live message to user.1 not sent" in caplog.text


@run_async
async def test_a_socket_idle_past_the_layers_blocking_read_still_hears(
    world: World, keys: dict[str, str]
) -> None:
    """channels-redis blocks 5 s per read; the Redis client must wait longer.

    (redis-py 8 times reads out after 5 s by default, which killed idle
    consumers before the layer's own timeout came back empty.)
    """
    bob, _ = await open_hello(keys["bob"])

    assert await bob.receive_nothing(timeout=7.0)
    await send_to_user(world.bob.pk, {"kind": "notification", "unread": 1})

    assert await bob.receive_json_from(timeout=5) == {
        "kind": "notification",
        "unread": 1,
    }
    await bob.disconnect()
