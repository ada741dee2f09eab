"""One delivery's attempts against a real receiver: retries, 410, giving up.

`attempts.deliver` is what the Celery task runs; here it runs in the test
process, attempt by attempt, so each step can be looked at.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.utils import timezone

from events_app import names
from events_app.models import Notification, WebhookAttempt, WebhookDelivery
from events_app.webhooks import attempts
from tasks_app.models import Membership
from tests.events_app.bus_helpers import deliver, events_since, outbox_mark
from tests.events_app.event_helpers import envelope_event
from tests.events_app.webhooks.receiver import Receiver, Reply
from tests.fixtures.factories import World, make_user

pytestmark = pytest.mark.django_db
Status = WebhookDelivery.Status


def queue(endpoint, *, matter=None, name: str = "task.completed") -> WebhookDelivery:
    event = envelope_event(
        timezone.now(), name, firm_id=endpoint.firm_id, matter=matter, label="Brief"
    )
    return WebhookDelivery.objects.create(
        endpoint=endpoint,
        event_id=uuid.UUID(event["id"]),
        event_name=name,
        payload=event,
    )


def due_now(delivery: WebhookDelivery) -> None:
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now()
    )


def test_a_delivery_arrives_signed_and_is_recorded(
    world: World, receiver: Receiver, endpoint_at
) -> None:
    endpoint, _ = endpoint_at(world.dora)
    delivery = queue(endpoint, matter=world.matter)

    assert attempts.deliver(delivery.pk) == Status.DELIVERED

    [request] = receiver.requests
    assert request.verified, request.verify_error
    assert request.webhook_id == str(delivery.event_id)
    assert request.payload == delivery.payload
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (
        Status.DELIVERED,
        1,
        200,
    )
    [attempt] = delivery.attempt_log.all()
    assert attempt.succeeded and attempt.response_excerpt == "ok"


def test_a_failure_is_retried_later_with_the_same_id_until_it_succeeds(
    world: World, receiver: Receiver, endpoint_at
) -> None:
    endpoint, _ = endpoint_at(world.dora)
    receiver.reply = lambda request, n: (
        Reply(status=500, body=b"database locked") if n <= 2 else Reply()
    )
    delivery = queue(endpoint)

    assert attempts.deliver(delivery.pk) == "retrying"
    delivery.refresh_from_db()
    wait = delivery.next_attempt_at - delivery.last_attempt_at
    assert dt.timedelta(seconds=23) < wait < dt.timedelta(seconds=37)
    assert attempts.deliver(delivery.pk) == "not due"
    due_now(delivery)
    assert attempts.deliver(delivery.pk) == "retrying"
    due_now(delivery)
    assert attempts.deliver(delivery.pk) == Status.DELIVERED

    assert len({r.webhook_id for r in receiver.requests}) == 1
    assert all(r.verified for r in receiver.requests)
    log = list(WebhookAttempt.objects.filter(delivery=delivery).order_by("id"))
    assert [(a.status_code, a.succeeded) for a in log] == [
        (500, False),
        (500, False),
        (200, True),
    ]
    assert log[0].error == "HTTP 500 Internal Server Error"
    assert log[0].response_excerpt == "database locked"
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None


def test_running_the_task_twice_sends_once(
    world: World, receiver: Receiver, endpoint_at
) -> None:
    endpoint, _ = endpoint_at(world.dora)
    delivery = queue(endpoint)

    assert attempts.deliver(delivery.pk) == Status.DELIVERED
    assert attempts.deliver(delivery.pk) == Status.DELIVERED

    assert len(receiver.requests) == 1


def test_410_gone_turns_the_endpoint_off_and_tells_the_firm_admins(
    world: World, receiver: Receiver, endpoint_at
) -> None:
    endpoint, _ = endpoint_at(world.dora, description="Billing")
    other_admin = make_user(world.other_firm, "olga", Membership.Role.FIRM_ADMIN)
    receiver.reply = lambda request, n: Reply(status=410, body=b"gone")
    first, second = queue(endpoint), queue(endpoint)
    mark = outbox_mark()

    assert attempts.deliver(first.pk) == Status.FAILED
    assert attempts.deliver(second.pk) == Status.FAILED

    endpoint.refresh_from_db()
    assert not endpoint.is_enabled
    assert endpoint.disabled_reason == (
        "The receiver answered 410 Gone: it asked for no more."
    )
    second.refresh_from_db()
    assert second.last_error == "Not sent: the endpoint is turned off."
    assert len(receiver.requests) == 1
    [event] = events_since(mark)
    assert event["name"] == names.WEBHOOK_ENDPOINT_DISABLED
    assert event["actor"] == {"id": None, "name": "system"}
    deliver([event])
    [notice] = Notification.objects.all()
    assert notice.recipient == world.dora
    assert notice.verb == Notification.Verb.WEBHOOK_DISABLED
    assert notice.summary == (
        "Webhook “Billing” was turned off. The receiver answered 410 Gone: it "
        "asked for no more."
    )
    assert notice.url == f"/settings/webhooks/{endpoint.pk}/"
    assert not Notification.objects.filter(recipient=other_admin).exists()


def test_a_round_of_failures_with_no_success_turns_the_endpoint_off(
    world: World, receiver: Receiver, endpoint_at, settings
) -> None:
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    endpoint, _ = endpoint_at(world.dora)
    receiver.reply = lambda request, n: Reply(status=503)
    delivery = queue(endpoint)
    mark = outbox_mark()

    for outcome in ("retrying", "retrying", Status.FAILED):
        assert attempts.deliver(delivery.pk) == outcome
        due_now(delivery)

    endpoint.refresh_from_db()
    assert not endpoint.is_enabled
    assert endpoint.disabled_reason.startswith("No delivery succeeded for ")
    assert "3 attempts of one event failed" in endpoint.disabled_reason
    assert "HTTP 503 Service Unavailable" in endpoint.disabled_reason
    deliver(events_since(mark))
    assert [n.recipient for n in Notification.objects.all()] == [world.dora]


def test_a_round_that_fails_while_other_deliveries_succeed_keeps_the_endpoint_on(
    world: World, receiver: Receiver, endpoint_at, settings
) -> None:
    """One event the receiver always rejects is that event's problem."""
    settings.WEBHOOK_MAX_ATTEMPTS = 2
    endpoint, _ = endpoint_at(world.dora)
    receiver.reply = lambda request, n: Reply(
        status=422 if request.payload["subject"]["label"] == "Bad" else 200
    )
    bad = queue(endpoint)
    WebhookDelivery.objects.filter(pk=bad.pk).update(
        payload={**bad.payload, "subject": {**bad.payload["subject"], "label": "Bad"}}
    )
    assert attempts.deliver(bad.pk) == "retrying"
    assert attempts.deliver(queue(endpoint).pk) == Status.DELIVERED
    due_now(bad)

    assert attempts.deliver(bad.pk) == Status.FAILED
    endpoint.refresh_from_db()
    assert endpoint.is_enabled


def test_the_retry_schedule_spans_about_three_days_with_jitter(settings) -> None:
    span = attempts.schedule_span()
    assert dt.timedelta(days=2.5) < span < dt.timedelta(days=3.5)
    waits = [attempts.retry_delay(n).total_seconds() for n in range(1, 17)]
    assert waits[0] == pytest.approx(30, rel=0.21)
    assert waits[5] == pytest.approx(960, rel=0.21)
    assert max(waits) <= settings.WEBHOOK_RETRY_MAX_SECONDS * 1.2
    assert len({attempts.retry_delay(3) for _ in range(20)}) > 1


def test_an_endpoint_with_enough_attempts_in_flight_makes_the_next_one_wait(
    world: World, receiver: Receiver, endpoint_at, settings
) -> None:
    settings.WEBHOOK_MAX_IN_FLIGHT = 1
    endpoint, _ = endpoint_at(world.dora)
    busy, waiting = queue(endpoint), queue(endpoint)
    WebhookDelivery.objects.filter(pk=busy.pk).update(
        lease_until=timezone.now() + dt.timedelta(minutes=1)
    )

    assert attempts.deliver(waiting.pk) == "busy"
    assert receiver.requests == []
    assert attempts.deliver(busy.pk) == "in flight"


def test_the_sweeper_sends_again_what_a_dead_worker_left_in_flight(
    world: World, receiver: Receiver, endpoint_at, eager_celery
) -> None:
    endpoint, _ = endpoint_at(world.dora)
    delivery = queue(endpoint)
    long_ago = timezone.now() - dt.timedelta(minutes=10)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        lease_until=long_ago, next_attempt_at=long_ago
    )

    assert attempts.sweep() == 1

    delivery.refresh_from_db()
    assert delivery.status == Status.DELIVERED
    assert [r.webhook_id for r in receiver.requests] == [str(delivery.event_id)]


def test_a_wall_put_up_after_the_relay_still_holds_at_send_time(
    world: World, receiver: Receiver, endpoint_at
) -> None:
    endpoint, _ = endpoint_at(world.dora)
    delivery = queue(endpoint, matter=world.matter)
    world.matter.is_restricted = True
    world.matter.save()

    assert attempts.deliver(delivery.pk) == Status.FAILED

    delivery.refresh_from_db()
    assert delivery.last_error.startswith("Withheld: the matter is behind an ethical")
    assert receiver.requests == []


def test_a_refused_address_is_a_failed_attempt_with_the_reason(
    world: World, receiver: Receiver, endpoint_at, settings
) -> None:
    endpoint, _ = endpoint_at(world.dora)
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    delivery = queue(endpoint)

    assert attempts.deliver(delivery.pk) == "retrying"

    [attempt] = WebhookAttempt.objects.filter(delivery=delivery)
    assert attempt.error.startswith("Refused: 127.0.0.1 is a loopback address")
    assert receiver.requests == []
