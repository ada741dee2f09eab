"""The bus target: each dispatched event becomes a delivery row per endpoint.

Runs inside the relay's transaction (`bus.add_target`), so the rows commit
with the outbox rows marked dispatched, or roll back with them: no event is
dispatched without its deliveries, none gets them twice. The cost per batch
is one query for the enabled endpoints of the batch's firms (nothing more
when there are none), one for the walled matters if an endpoint excludes
them, and one INSERT. The requests wait for the commit (`publish`).

What an endpoint gets: events of its own firm only, whose name matches one
of its patterns, as the envelope was stored minus `context.client_id`
(`envelope.public`). An event of a matter behind an ethical wall, or of a
matter gone since, reaches only endpoints that include walled matters.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.utils import timezone

from events_app import bus, envelope
from events_app.models import WebhookDelivery, WebhookEndpoint
from events_app.webhooks.attempts import publish_after_commit
from tasks_app.models import Matter


def wants(endpoint: WebhookEndpoint, event_name: str) -> bool:
    return any(bus.matches(p, event_name) for p in endpoint.event_patterns)


def fan_out(events: list[dict[str, Any]]) -> list[int]:
    """Write the batch's delivery rows; publish them after commit. Returns ids."""
    firm_ids = {envelope.firm_id_of(e.get("firm")) for e in events} - {None}
    if not firm_ids:
        return []
    endpoints = list(
        WebhookEndpoint.objects.filter(firm_id__in=firm_ids, is_enabled=True).only(
            "id", "firm_id", "event_patterns"
        )
    )
    if not endpoints:
        return []
    by_firm: dict[int, list[WebhookEndpoint]] = defaultdict(list)
    for endpoint in endpoints:
        by_firm[endpoint.firm_id].append(endpoint)
    walled = _walled_matters(events)
    now = timezone.now()
    rows = []
    for event in events:
        matter_id = (event.get("matter") or {}).get("id")
        for endpoint in by_firm.get(envelope.firm_id_of(event.get("firm")), ()):
            if not wants(endpoint, event["name"]):
                continue
            if matter_id in walled:
                continue  # walls hold outside the product too
            rows.append(
                WebhookDelivery(
                    endpoint_id=endpoint.pk,
                    event_id=event["id"],
                    event_name=event["name"],
                    payload=envelope.public(event),
                    created_at=now,
                    next_attempt_at=now,
                )
            )
    if not rows:
        return []
    ids = [row.pk for row in WebhookDelivery.objects.bulk_create(rows)]
    publish_after_commit(ids)
    return ids


def _walled_matters(events: list[dict[str, Any]]) -> set[int]:
    """The batch's matters that are walled now, or no longer exist."""
    matter_ids = {
        (e.get("matter") or {}).get("id") for e in events if e.get("matter")
    } - {None}
    if not matter_ids:
        return set()
    open_ids = set(
        Matter.objects.filter(pk__in=matter_ids, is_restricted=False).values_list(
            "pk", flat=True
        )
    )
    return matter_ids - open_ids
