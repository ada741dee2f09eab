"""Webhooks: the firm's admins hear when an endpoint was turned off for them."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from events_app import envelope
from events_app.notifications.services import Draft, Verb, notify
from events_app.text import quoted
from tasks_app.models import Membership
from tasks_app.selectors import firm_members


def notify_endpoint_disabled(event: dict[str, Any]) -> None:
    """Tell every firm admin of the endpoint's firm that it stopped, and why."""
    firm_id = envelope.firm_id_of(event.get("firm"))
    if firm_id is None:
        return
    endpoint = event["subject"]
    reason = ((event.get("changes") or {}).get("disabled_reason") or ["", ""])[1]
    summary = f"Webhook {quoted(endpoint['label'])} was turned off. {reason}".strip()
    url = reverse("webhook_detail", args=[endpoint["id"]])
    admins = (
        firm_members(firm_id=firm_id)
        .filter(membership__role=Membership.Role.FIRM_ADMIN)
        .values_list("pk", flat=True)
    )
    notify(
        event=event,
        drafts=[Draft(pk, Verb.WEBHOOK_DISABLED, summary, url) for pk in admins],
    )
