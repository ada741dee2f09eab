"""The relay's webhook target: which stored events become whose deliveries.

Real services make the events, the real relay stores them in DynamoDB Local
and dispatches them; the delivery rows are what each endpoint will be sent.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from events_app import bus, names
from events_app.models import OutboxEvent, WebhookDelivery
from events_app.outbox import relay
from events_app.webhooks import fanout
from tasks_app import services as task_services
from tasks_app.models import Membership
from tests.events_app.bus_helpers import events_since, outbox_mark
from tests.fixtures.factories import World, make_task, make_user

pytestmark = [pytest.mark.django_db, pytest.mark.services]


@pytest.fixture(autouse=True)
def _world_relayed(event_store, world: World) -> None:
    """The world's own events (its milestone) are relayed before any endpoint."""
    relay_all()


def relay_all() -> relay.RelayResult:
    result = relay.sweep(ignore_backoff=True)
    assert result.failed == 0, result.errors
    return result


def delivered_names(endpoint) -> list[str]:
    return list(
        WebhookDelivery.objects.filter(endpoint=endpoint)
        .exclude(event_name__startswith="webhook.")
        .order_by("id")
        .values_list("event_name", flat=True)
    )


def test_each_matching_event_becomes_one_delivery_per_endpoint(
    event_store, world: World, endpoint_at
) -> None:
    every, _ = endpoint_at(world.dora, "/every", patterns=["*"])
    tasks, _ = endpoint_at(world.dora, "/tasks", patterns=["task.*"])
    completed, _ = endpoint_at(world.dora, "/done", patterns=["task.completed"])
    comments, _ = endpoint_at(world.dora, "/comments", patterns=["comment.added"])
    relay_all()

    task = make_task(world.matter, "Draft the claim", actor=world.alice)
    task_services.task_update(actor=world.alice, task_id=task.pk, status="DONE")
    task_services.comment_create(actor=world.bob, task_id=task.pk, body="Filed.")
    relay_all()

    assert delivered_names(every) == [
        names.TASK_CREATED,
        names.TASK_COMPLETED,
        names.COMMENT_ADDED,
    ]
    assert delivered_names(tasks) == [names.TASK_CREATED, names.TASK_COMPLETED]
    assert delivered_names(completed) == [names.TASK_COMPLETED]
    assert delivered_names(comments) == [names.COMMENT_ADDED]
    assert not OutboxEvent.objects.filter(dispatched_at__isnull=True).exists()


def test_the_payload_is_the_stored_envelope_without_the_tabs_channel(
    event_store, world: World, endpoint_at
) -> None:
    from events_app.context import acting_as

    endpoint, _ = endpoint_at(world.dora, patterns=["task.created"])
    with acting_as(world.alice, source="web", client_id="specific.abc123"):
        task = make_task(world.matter, "Serve the claim", actor=world.alice)
    relay_all()

    [delivery] = WebhookDelivery.objects.filter(endpoint=endpoint)
    stored = OutboxEvent.objects.get(event_id=delivery.event_id).payload
    assert stored["context"]["client_id"] == "specific.abc123"
    assert delivery.payload == {
        **stored,
        "context": {k: v for k, v in stored["context"].items() if k != "client_id"},
    }
    assert delivery.payload["subject"] == {
        "type": "task",
        "id": task.pk,
        "label": "Serve the claim",
    }
    assert str(delivery.event_id) == stored["id"]


def test_walled_matter_events_reach_no_endpoint(
    event_store, world: World, endpoint_at
) -> None:
    """Dora, the firm admin, is outside the wall: a receiver she runs must
    not learn what happens behind it."""
    plain, _ = endpoint_at(world.dora, "/plain")
    everything, _ = endpoint_at(world.dora, "/everything")
    relay_all()

    make_task(world.walled, "Secret acquisition", actor=world.alice)
    make_task(world.matter, "Open work", actor=world.alice)
    relay_all()

    for endpoint in (plain, everything):
        labels = [
            d.payload["subject"]["label"]
            for d in WebhookDelivery.objects.filter(
                endpoint=endpoint, event_name="task.created"
            )
        ]
        assert labels == ["Open work"]
    assert not any(
        world.walled.number in str(d.payload) for d in WebhookDelivery.objects.all()
    )


def test_another_firms_events_never_reach_an_endpoint(
    event_store, world: World, endpoint_at
) -> None:
    other_admin = make_user(world.other_firm, "olga", Membership.Role.FIRM_ADMIN)
    relay_all()  # Olga joining her firm (user.added) is not this test's event
    ours, _ = endpoint_at(world.dora, "/ours")
    theirs, _ = endpoint_at(other_admin, "/theirs")
    relay_all()

    make_task(world.other_matter, "Their task", actor=world.oscar)
    make_task(world.matter, "Our task", actor=world.alice)
    relay_all()

    ours_firms = {
        d.payload["firm"] for d in WebhookDelivery.objects.filter(endpoint=ours)
    }
    theirs_firms = {
        d.payload["firm"] for d in WebhookDelivery.objects.filter(endpoint=theirs)
    }
    assert ours_firms == {f"f_{world.firm.pk}"}
    assert theirs_firms == {f"f_{world.other_firm.pk}"}
    assert delivered_names(ours) == [names.TASK_CREATED]
    assert delivered_names(theirs) == [names.TASK_CREATED]


def test_a_turned_off_endpoint_gets_no_deliveries(
    event_store, world: World, endpoint_at
) -> None:
    endpoint, _ = endpoint_at(world.dora, is_enabled=False)
    relay_all()

    make_task(world.matter, actor=world.alice)
    relay_all()

    assert not WebhookDelivery.objects.filter(endpoint=endpoint).exists()


def test_deliveries_roll_back_with_a_failed_dispatch_and_come_once_on_the_retry(
    event_store, world: World, endpoint_at, monkeypatch
) -> None:
    """Written in the transaction that marks the events dispatched: a dispatch
    that fails after the webhook target ran leaves neither, and the retry
    makes each delivery once."""
    endpoint, _ = endpoint_at(world.dora, patterns=["task.*"])
    relay_all()
    make_task(world.matter, "Once only", actor=world.alice)

    def broken_target(events):
        raise ConnectionError("the next target failed")

    monkeypatch.setitem(bus._targets, "zz_broken", broken_target)
    failed = relay.relay(ignore_backoff=True)
    assert failed.failed == 1
    assert not WebhookDelivery.objects.filter(endpoint=endpoint).exists()
    assert OutboxEvent.objects.filter(dispatched_at__isnull=True).count() == 1

    monkeypatch.delitem(bus._targets, "zz_broken")
    relay_all()
    relay_all()

    assert delivered_names(endpoint) == [names.TASK_CREATED]


def test_matching_costs_the_same_queries_for_a_batch_of_two_or_forty(
    event_store, world: World, endpoint_at
) -> None:
    """One query for the endpoints, one for the walled matters, one INSERT."""
    endpoint_at(world.dora, "/a", patterns=["task.*"])
    endpoint_at(world.dora, "/b", patterns=["*"])
    relay_all()

    def queries_to_fan_out(count: int) -> int:
        mark = outbox_mark()
        for _ in range(count):
            make_task(world.matter, actor=world.alice)
        events = events_since(mark)
        with CaptureQueriesContext(connection) as captured:
            ids = fanout.fan_out(events)
        assert len(ids) == 2 * count
        return len(captured)

    assert queries_to_fan_out(2) == queries_to_fan_out(40) == 3
