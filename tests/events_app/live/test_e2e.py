"""End to end: an HTTP change, a real Celery worker, Redis, a websocket.

The change is made over HTTP (Django's test client), relayed after commit by
a real worker (store in DynamoDB Local, handlers as separate tasks) whose
handlers reach the socket through channels-redis: the path of production,
with the websocket consumer in this process.
"""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.test import Client

from events_app.models import Notification
from tests.conftest import service_unavailable
from tests.events_app.live_helpers import open_hello, request, run_async, session_key
from tests.fixtures.factories import World, make_task

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

# Generous: the worker relays, stores, then runs each handler as its own task.
ARRIVAL_TIMEOUT = 20.0


@pytest.fixture
def redis_layer() -> None:
    backend = settings.CHANNEL_LAYERS["default"]["BACKEND"]
    if "channels_redis" not in backend:
        service_unavailable("the end-to-end websocket tests need REDIS_URL")


def settled(worker: Any, event_name: str) -> None:
    """Wait until the worker has run every handler of the last `event_name`.

    A socket opened earlier could otherwise hear the tail of the set-up.
    """
    from events_app import bus
    from events_app.models import HandlerRun, OutboxEvent

    event = OutboxEvent.objects.filter(name=event_name).order_by("-seq").first()
    expected = {sub.name for sub in bus.handlers_for(event_name)}

    def done() -> bool:
        ran = HandlerRun.objects.filter(event_id=event.event_id)
        return set(ran.values_list("handler", flat=True)) == expected

    worker.wait_for(done, timeout=ARRIVAL_TIMEOUT, message=f"{event_name} handled")


async def anything(socket: Any, timeout: float) -> Any:
    """What the socket receives within `timeout`, or None (shown on failure)."""
    if await socket.receive_nothing(timeout=timeout):
        return None
    return await socket.receive_json_from()


def task_form(task: Any, **changes: Any) -> dict[str, Any]:
    """The task page's form as the browser posts it, with `changes`."""
    data = {
        "title": task.title,
        "description": task.description,
        "status": task.status,
        "priority": task.priority,
        "assignee": task.assignee_id or "",
        "due_date": "",
        "milestone": task.milestone_id or "",
    }
    data.update(changes)
    return data


def test_a_notification_arrives_after_an_http_assignment_processed_by_a_worker(
    event_store: Any, world: World, celery_worker: Any, redis_layer: None
) -> None:
    task = make_task(world.matter, "Draft the defence", actor=world.alice)
    settled(celery_worker, "task.created")
    alice = Client()
    alice.force_login(world.alice)
    bob_key = session_key(world.bob)

    @run_async
    async def scenario() -> dict[str, Any]:
        bob, _ = await open_hello(bob_key)
        response = await sync_to_async(alice.post)(
            f"/tasks/{task.pk}/", task_form(task, assignee=world.bob.pk)
        )
        assert response.status_code == 302, response.content
        message = await bob.receive_json_from(timeout=ARRIVAL_TIMEOUT)
        await bob.disconnect()
        return message

    message = scenario()

    notification = Notification.objects.get(recipient=world.bob)
    assert message == {
        "kind": "notification",
        "id": notification.pk,
        "unread": 1,
        "text": "Alice Hartley assigned you “Draft the defence”",
        "url": f"/notifications/{notification.pk}/open/",
    }
    # The event behind it went through the store, once.
    history = event_store.query_entity_history(
        firm=f"f_{world.firm.pk}", subject_type="task", subject_id=task.pk
    )
    names = [event["name"] for event in history.items]
    assert names.count("task.assigned") == 1


def test_a_board_move_reaches_other_boards_but_not_the_tab_that_made_it(
    event_store: Any, world: World, celery_worker: Any, redis_layer: None
) -> None:
    task = make_task(world.matter, "Instruct counsel", actor=world.alice)
    settled(celery_worker, "task.created")
    alice = Client()
    alice.force_login(world.alice)
    alice_key = alice.cookies[settings.SESSION_COOKIE_NAME].value
    carol_key = session_key(world.carol)
    walt_key = session_key(world.walt)
    subscribe = {"subscribe": "matter", "id": world.matter.pk}

    @run_async
    async def scenario() -> dict[str, Any]:
        alice_tab, hello = await open_hello(alice_key)
        carol_tab, _ = await open_hello(carol_key)
        walt_tab, _ = await open_hello(walt_key)  # can see the matter, not subscribed
        for tab in (alice_tab, carol_tab):
            assert (await request(tab, subscribe))["kind"] == "subscribed"
        response = await sync_to_async(alice.post)(
            f"/tasks/{task.pk}/move/",
            {"status": "IN_PROGRESS"},
            HTTP_ACCEPT="application/json",
            HTTP_X_LIVE_CLIENT=hello["channel"],
        )
        assert response.status_code == 200, response.content
        message = await carol_tab.receive_json_from(timeout=ARRIVAL_TIMEOUT)
        # Carol's copy arrived, so Alice's would have by now: there is none.
        assert await anything(alice_tab, 1.0) is None
        assert await anything(walt_tab, 0.2) is None
        for tab in (alice_tab, carol_tab, walt_tab):
            await tab.disconnect()
        return message

    message = scenario()
    card = message.pop("card")
    assert message == {
        "kind": "board",
        "matter_id": world.matter.pk,
        "task_id": task.pk,
        "event": "task.started",
        "event_id": message["event_id"],
        "status": "IN_PROGRESS",
        "from_status": "TODO",
    }
    # The card itself, rendered by the worker, as Carol's board places it.
    assert card["status"] == "IN_PROGRESS" and card["order"] == [task.pk]
    assert f'id="task-{task.pk}"' in card["html"] and "Instruct counsel" in card["html"]
