"""A firm admin sets up a webhook in a real browser, tests it and resends."""

from __future__ import annotations

from typing import Any

import pytest

from events_app.models import WebhookDelivery, WebhookEndpoint
from tests.events_app.webhooks.receiver import Reply, running_receiver
from tests.fixtures.factories import World
from tests.fixtures.worker import celery_eager

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_admin_adds_an_endpoint_sends_a_test_event_and_resends_it(
    world: World, log_in: Any
) -> None:
    with running_receiver() as receiver, celery_eager(True):
        receiver.reply = lambda request, n: (
            Reply(status=503, body=b"starting up") if n == 1 else Reply()
        )
        page = log_in("dora")
        page.get_by_role("link", name="Webhooks").click()
        page.get_by_role("link", name="Add endpoint").click()
        page.get_by_label("URL").fill("http://169.254.169.254/latest/meta-data/")
        page.get_by_label("Description").fill("Billing system")
        page.get_by_role("button", name="Add endpoint").click()
        assert page.get_by_text(
            "169.254.169.254 is a cloud metadata address"
        ).is_visible()

        page.get_by_label("URL").fill(receiver.url("/hook"))
        page.get_by_role("button", name="Add endpoint").click()
        secret = page.locator("#webhook-secret").inner_text()
        endpoint = WebhookEndpoint.objects.get()
        assert secret == endpoint.secret
        receiver.secrets["/hook"] = [secret]

        page.get_by_role("button", name="Send test event").click()
        row = page.locator(".webhook-delivery").first
        row.locator("summary").first.click()
        assert "HTTP 503" in row.inner_text()
        assert "starting up" in row.locator(".webhook-excerpt").first.inner_text()

        row.get_by_role("button", name="Resend").click()
        delivery = WebhookDelivery.objects.get()
        page.locator(f"#delivery-{delivery.pk} .webhook-badge-delivered").wait_for()

        assert [r.webhook_id for r in receiver.requests] == [str(delivery.event_id)] * 2
        assert receiver.requests[1].verified
        page.reload()
        assert secret not in page.content()
