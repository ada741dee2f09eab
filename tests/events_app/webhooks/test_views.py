"""The firm admin's pages: who may see them, forms, the secret once, actions."""

from __future__ import annotations

import pytest
from django.urls import reverse

from events_app.models import WebhookDelivery, WebhookEndpoint
from tasks_app.models import Membership
from tests.events_app.webhooks.receiver import Receiver, Reply
from tests.fixtures.factories import World, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def as_dora(client, world: World):
    client.force_login(world.dora)
    return client


def form_data(**kw) -> dict[str, str]:
    data = {
        "url": "http://127.0.0.1:9/hook",
        "description": "Billing system",
        "event_patterns": "task.completed\ntask.started",
        "is_enabled": "on",
    }
    data.update(kw)
    return data


def test_colleagues_without_the_role_get_403_and_other_firms_404(
    client, world: World, endpoint_at
) -> None:
    endpoint, _ = endpoint_at(world.dora)
    detail = reverse("webhook_detail", args=[endpoint.pk])

    client.force_login(world.alice)
    assert client.get(reverse("webhooks")).status_code == 403
    refused = client.get(detail)
    assert refused.status_code == 403
    assert "Only firm admins can manage webhooks." in refused.content.decode()
    assert client.post(reverse("webhook_test", args=[endpoint.pk])).status_code == 403

    other_admin = make_user(world.other_firm, "olga", Membership.Role.FIRM_ADMIN)
    client.force_login(other_admin)
    assert client.get(reverse("webhooks")).status_code == 200
    assert client.get(detail).status_code == 404
    assert client.post(reverse("webhook_delete", args=[endpoint.pk])).status_code == 404
    assert WebhookEndpoint.objects.filter(pk=endpoint.pk).exists()

    client.logout()
    assert client.get(detail).status_code == 302


def test_the_nav_shows_webhooks_to_firm_admins_only(client, world: World) -> None:
    client.force_login(world.dora)
    assert reverse("webhooks") in client.get(reverse("home")).content.decode()
    client.force_login(world.alice)
    assert reverse("webhooks") not in client.get(reverse("home")).content.decode()


def test_adding_an_endpoint_shows_its_secret_once(as_dora, world: World) -> None:
    response = as_dora.post(reverse("webhook_create"), form_data(), follow=True)

    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.event_patterns == ["task.completed", "task.started"]
    assert endpoint.firm == world.firm
    page = response.content.decode()
    assert endpoint.secret in page
    assert "it will not be shown again" in page

    again = as_dora.get(reverse("webhook_detail", args=[endpoint.pk])).content.decode()
    assert endpoint.secret not in again
    assert f"whsec_…{endpoint.secret[-4:]}" in again


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "http://169.254.169.254/latest/meta-data/",
            "169.254.169.254 is a cloud metadata address: Hivelight sends webhooks "
            "only to public internet addresses.",
        ),
        ("http://10.20.30.40/hook", "10.20.30.40 is a private address"),
        ("http://[fd00:ec2::254]/", "fd00:ec2::254 is a cloud metadata address"),
        ("https://admin:pw@example.com/", "Put no user name or password in the URL"),
    ],
)
def test_an_ssrf_target_is_a_form_error(as_dora, url, message) -> None:
    response = as_dora.post(reverse("webhook_create"), form_data(url=url))

    assert response.status_code == 400
    assert message in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_a_loopback_target_is_a_form_error_where_loopback_is_not_allowed(
    as_dora, settings
) -> None:
    settings.WEBHOOK_ALLOWED_NETWORKS = []

    response = as_dora.post(reverse("webhook_create"), form_data())

    assert response.status_code == 400
    assert "127.0.0.1 is a loopback address" in response.content.decode()


def test_a_pattern_that_matches_nothing_is_a_form_error(as_dora) -> None:
    response = as_dora.post(
        reverse("webhook_create"), form_data(event_patterns="task.done")
    )

    assert response.status_code == 400
    assert "“task.done” matches no Hivelight event." in response.content.decode()


def test_the_test_event_button_sends_a_signed_test_event(
    as_dora,
    world: World,
    receiver: Receiver,
    endpoint_at,
    eager_celery,
    django_capture_on_commit_callbacks,
) -> None:
    endpoint, _ = endpoint_at(world.dora)

    with django_capture_on_commit_callbacks(execute=True):
        response = as_dora.post(
            reverse("webhook_test", args=[endpoint.pk]), HTTP_HX_REQUEST="true"
        )

    assert response.status_code == 200
    [request] = receiver.requests
    assert request.verified
    assert request.payload["name"] == "webhook.test"
    assert request.payload["firm"] == f"f_{world.firm.pk}"
    assert request.payload["actor"]["id"] == world.dora.pk
    fragment = response.content.decode()
    delivery = WebhookDelivery.objects.get()
    assert "webhook.test" in fragment
    # Answered before the worker sent it: the row asks again by itself.
    assert f'hx-get="{reverse("webhook_delivery", args=[delivery.pk])}"' in fragment
    row = as_dora.get(reverse("webhook_delivery", args=[delivery.pk])).content.decode()
    assert "Delivered" in row and "HTTP 200" in row and "hx-get" not in row


def test_the_page_shows_deliveries_with_their_attempts_and_resends_one(
    as_dora,
    world: World,
    receiver: Receiver,
    endpoint_at,
    eager_celery,
    django_capture_on_commit_callbacks,
) -> None:
    endpoint, _ = endpoint_at(world.dora)
    receiver.reply = lambda request, n: (
        Reply(status=500, body=b"<b>down for upgrade</b>") if n == 1 else Reply()
    )
    with django_capture_on_commit_callbacks(execute=True):
        as_dora.post(reverse("webhook_test", args=[endpoint.pk]))
    delivery = WebhookDelivery.objects.get()

    page = as_dora.get(reverse("webhook_detail", args=[endpoint.pk])).content.decode()
    assert "HTTP 500 Internal Server Error" in page
    assert "&lt;b&gt;down for upgrade&lt;/b&gt;" in page
    assert "<b>down for upgrade</b>" not in page
    failed_only = as_dora.get(
        reverse("webhook_detail", args=[endpoint.pk]), {"status": "failed"}
    )
    assert f'id="delivery-{delivery.pk}"' in failed_only.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        resent = as_dora.post(
            reverse("webhook_delivery_resend", args=[delivery.pk]),
            HTTP_HX_REQUEST="true",
        )

    assert resent.status_code == 200
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.DELIVERED
    assert [r.webhook_id for r in receiver.requests] == [str(delivery.event_id)] * 2
    row = as_dora.get(reverse("webhook_delivery", args=[delivery.pk])).content.decode()
    assert row.count("<tr class=") == 2


def test_bad_input_is_a_400_with_a_message(as_dora, world: World, endpoint_at) -> None:
    endpoint, _ = endpoint_at(world.dora)
    detail = reverse("webhook_detail", args=[endpoint.pk])

    assert as_dora.get(detail, {"status": "lost"}).status_code == 400
    assert as_dora.get(detail, {"before": "-3"}).status_code == 400
    assert as_dora.get(reverse("webhook_test", args=[endpoint.pk])).status_code == 405


def test_descriptions_are_escaped(as_dora, world: World, endpoint_at) -> None:
    endpoint, _ = endpoint_at(world.dora, description="<script>alert(1)</script>")

    for url in (reverse("webhooks"), reverse("webhook_detail", args=[endpoint.pk])):
        page = as_dora.get(url).content.decode()
        assert "<script>alert(1)</script>" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_editing_turning_off_and_deleting(as_dora, world: World, endpoint_at) -> None:
    endpoint, _ = endpoint_at(world.dora)

    as_dora.post(
        reverse("webhook_edit", args=[endpoint.pk]),
        form_data(url=endpoint.url, event_patterns="comment.*"),
    )
    endpoint.refresh_from_db()
    assert endpoint.event_patterns == ["comment.*"]

    as_dora.post(reverse("webhook_toggle", args=[endpoint.pk]))
    endpoint.refresh_from_db()
    assert not endpoint.is_enabled

    as_dora.post(reverse("webhook_toggle", args=[endpoint.pk]), {"enable": "1"})
    endpoint.refresh_from_db()
    assert endpoint.is_enabled

    response = as_dora.post(reverse("webhook_rotate", args=[endpoint.pk]), follow=True)
    endpoint.refresh_from_db()
    assert endpoint.secret in response.content.decode()

    as_dora.post(reverse("webhook_delete", args=[endpoint.pk]))
    assert not WebhookEndpoint.objects.exists()


def test_the_delivery_of_another_firm_is_not_found(
    client, world: World, endpoint_at
) -> None:
    endpoint, _ = endpoint_at(world.dora)
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint,
        event_id="01900000-0000-7000-8000-000000000002",
        event_name="task.completed",
        payload={"id": "x"},
    )
    other_admin = make_user(world.other_firm, "olga", Membership.Role.FIRM_ADMIN)
    client.force_login(other_admin)

    assert (
        client.get(reverse("webhook_delivery", args=[delivery.pk])).status_code == 404
    )
    resend = client.post(reverse("webhook_delivery_resend", args=[delivery.pk]))
    assert resend.status_code == 404


def test_a_delivery_of_a_matter_walled_since_shows_nothing_and_is_not_resent(
    as_dora, world: World, endpoint_at
) -> None:
    """Made before the wall went up: its payload is now the wall's to keep."""
    from tests.events_app.webhooks.test_attempts import queue

    endpoint, _ = endpoint_at(world.dora)
    delivery = queue(endpoint, matter=world.matter)
    world.matter.is_restricted = True
    world.matter.save()

    page = as_dora.get(reverse("webhook_detail", args=[endpoint.pk])).content.decode()
    row = as_dora.get(reverse("webhook_delivery", args=[delivery.pk])).content.decode()
    resent = as_dora.post(reverse("webhook_delivery_resend", args=[delivery.pk]))

    for html in (page, row):
        assert "Withheld: this event is of a matter behind an ethical wall" in html
        assert world.matter.number not in html
        assert "Brief" not in html
    assert resent.status_code == 400
    assert "never sent" in resent.content.decode()
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.PENDING and delivery.attempts == 0
