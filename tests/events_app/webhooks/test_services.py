"""A firm admin's actions: validation, secrets, the audit trail, resends."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from events_app import names
from events_app.history.sentences import sentence_text
from events_app.models import WebhookDelivery
from events_app.webhooks import attempts, services
from tests.events_app.bus_helpers import events_since, outbox_mark
from tests.events_app.webhooks.receiver import Receiver
from tests.fixtures.factories import World

pytestmark = pytest.mark.django_db


def create(actor, **kw):
    return services.endpoint_create(
        actor=actor,
        url=kw.pop("url", "http://127.0.0.1:9/hook"),
        event_patterns=kw.pop("event_patterns", ["*"]),
        **kw,
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://169.254.169.254/latest/meta-data", "a cloud metadata address"),
        ("http://10.0.0.7/hook", "a private address"),
        ("http://[fe80::1]/hook", "a link-local address"),
        ("gopher://example.com/", "must start with https://"),
        ("", "Enter the URL"),
    ],
)
def test_an_endpoint_on_a_refused_address_is_not_created(
    world: World, url, message
) -> None:
    with pytest.raises(ValidationError, match=message):
        create(world.dora, url=url)


@pytest.mark.parametrize(
    ("patterns", "message"),
    [
        (["task.complted"], "matches no Hivelight event"),
        (["task.[a-z]*"], "is not a pattern"),
        ([" ", ""], "at least one event pattern"),
    ],
)
def test_patterns_must_be_the_buss_and_match_something(
    world: World, patterns, message
) -> None:
    with pytest.raises(ValidationError, match=message):
        create(world.dora, event_patterns=patterns)


def test_patterns_are_kept_lowercase_and_distinct(world: World) -> None:
    endpoint, _ = create(world.dora, event_patterns=["Task.*", "task.*", "*"])
    assert endpoint.event_patterns == ["task.*", "*"]


def test_only_firm_admins_manage_endpoints(world: World) -> None:
    with pytest.raises(PermissionDenied, match="Only firm admins"):
        create(world.alice)
    endpoint, _ = create(world.dora)
    with pytest.raises(PermissionDenied):
        services.endpoint_rotate_secret(actor=world.alice, endpoint_id=endpoint.pk)
    with pytest.raises(Http404):
        services.endpoint_rotate_secret(actor=world.oscar, endpoint_id=endpoint.pk)


def test_changes_are_recorded_for_the_firms_audit(world: World) -> None:
    mark = outbox_mark()
    endpoint, _ = create(world.dora, description="Billing")
    services.endpoint_set_enabled(
        actor=world.dora, endpoint_id=endpoint.pk, is_enabled=False
    )
    services.endpoint_rotate_secret(actor=world.dora, endpoint_id=endpoint.pk)
    services.endpoint_delete(actor=world.dora, endpoint_id=endpoint.pk)

    events = events_since(mark)
    assert [e["name"] for e in events] == [
        names.WEBHOOK_ENDPOINT_CREATED,
        names.WEBHOOK_ENDPOINT_UPDATED,
        names.WEBHOOK_SECRET_ROTATED,
        names.WEBHOOK_ENDPOINT_DELETED,
    ]
    assert {e["actor"]["id"] for e in events} == {world.dora.pk}
    assert events[0]["changes"]["url"] == [None, "http://127.0.0.1:9/hook"]
    assert events[1]["changes"] == {"enabled": [True, False]}
    assert [sentence_text(e) for e in events] == [
        "Dora Admin added webhook endpoint “Billing”",
        "Dora Admin changed webhook endpoint “Billing”",
        "Dora Admin rotated the signing secret of webhook endpoint “Billing”",
        "Dora Admin deleted webhook endpoint “Billing”",
    ]
    assert "whsec_" in str(events[2]["changes"]) and all(
        len(hint) < 15 for hint in events[2]["changes"]["secret"]
    )


def test_a_rotated_secret_and_the_previous_one_both_sign_for_a_day(
    world: World, receiver: Receiver, endpoint_at
) -> None:
    endpoint, old = endpoint_at(world.dora)
    new = services.endpoint_rotate_secret(actor=world.dora, endpoint_id=endpoint.pk)
    receiver.secrets["/hook"] = [old]  # a receiver not yet switched

    delivery = services.endpoint_send_test(actor=world.dora, endpoint_id=endpoint.pk)
    attempts.deliver(delivery.pk)
    [request] = receiver.requests
    assert request.verified
    assert Webhook(new).verify(request.body, request.headers)

    endpoint.refresh_from_db()
    endpoint.previous_secret_expires_at = timezone.now() - dt.timedelta(seconds=1)
    endpoint.save()
    later = services.endpoint_send_test(actor=world.dora, endpoint_id=endpoint.pk)
    attempts.deliver(later.pk)
    assert not receiver.requests[1].verified
    assert Webhook(new).verify(receiver.requests[1].body, receiver.requests[1].headers)


def test_rotating_twice_in_a_day_keeps_the_secret_receivers_still_hold(
    world: World,
) -> None:
    endpoint, original = create(world.dora)
    services.endpoint_rotate_secret(actor=world.dora, endpoint_id=endpoint.pk)
    newest = services.endpoint_rotate_secret(actor=world.dora, endpoint_id=endpoint.pk)

    endpoint.refresh_from_db()
    assert (endpoint.secret, endpoint.previous_secret) == (newest, original)


def test_a_resend_goes_again_with_the_same_id_on_a_fresh_schedule(
    world: World, receiver: Receiver, endpoint_at
) -> None:
    endpoint, _ = endpoint_at(world.dora)
    delivery = services.endpoint_send_test(actor=world.dora, endpoint_id=endpoint.pk)
    attempts.deliver(delivery.pk)

    services.delivery_resend(actor=world.dora, delivery_id=delivery.pk)
    assert attempts.deliver(delivery.pk) == WebhookDelivery.Status.DELIVERED

    assert [r.webhook_id for r in receiver.requests] == [str(delivery.event_id)] * 2
    assert receiver.duplicates[str(delivery.event_id)] == 1
    assert delivery.attempt_log.count() == 2


def test_a_resend_to_a_turned_off_endpoint_is_refused(
    world: World, endpoint_at
) -> None:
    endpoint, _ = endpoint_at(world.dora)
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint,
        event_id="01900000-0000-7000-8000-000000000001",
        event_name="task.completed",
        payload={"id": "x", "name": "task.completed"},
        status=WebhookDelivery.Status.FAILED,
    )
    services.endpoint_set_enabled(
        actor=world.dora, endpoint_id=endpoint.pk, is_enabled=False
    )

    with pytest.raises(ValidationError, match="turn it on to resend"):
        services.delivery_resend(actor=world.dora, delivery_id=delivery.pk)
    with pytest.raises(Http404):
        services.delivery_resend(actor=world.oscar, delivery_id=delivery.pk)


def test_turning_an_endpoint_back_on_forgets_why_it_was_off(world: World) -> None:
    endpoint, _ = create(world.dora)
    services.endpoint_set_enabled(
        actor=world.dora, endpoint_id=endpoint.pk, is_enabled=False
    )
    endpoint.refresh_from_db()
    assert endpoint.disabled_reason == "Turned off by Dora Admin."

    services.endpoint_set_enabled(
        actor=world.dora, endpoint_id=endpoint.pk, is_enabled=True
    )
    endpoint.refresh_from_db()
    assert endpoint.is_enabled and endpoint.disabled_reason == ""
