"""Reading webhooks, scoped to the firm admin asking.

Another firm's endpoint or delivery does not exist for the asker (404); a
colleague without the firm admin role is refused (403) with a reason.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import Count, Prefetch, Q, QuerySet
from django.http import Http404

from events_app.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from tasks_app.models import Matter
from tasks_app.selectors import membership_for

ADMINS_ONLY = "Only firm admins can manage webhooks."
RECENT_DELIVERIES = 25


def admin_firm_id(user: Any) -> int:
    """The firm whose webhooks `user` manages; PermissionDenied unless an admin."""
    membership = membership_for(user)
    if membership is None or not membership.is_firm_admin:
        raise PermissionDenied(ADMINS_ONLY)
    return membership.firm_id


def _firm_of(user: Any) -> int:
    membership = membership_for(user)
    if membership is None:
        raise Http404("No such webhook endpoint.")
    return membership.firm_id


def endpoint_list_for_admin(*, user: Any) -> QuerySet[WebhookEndpoint]:
    firm_id = admin_firm_id(user)
    return WebhookEndpoint.objects.filter(firm_id=firm_id).annotate(
        failed_count=Count("deliveries", filter=Q(deliveries__status="failed")),
        pending_count=Count("deliveries", filter=Q(deliveries__status="pending")),
    )


def endpoint_get_for_admin(
    *, user: Any, endpoint_id: int, for_update: bool = False
) -> WebhookEndpoint:
    """The endpoint, if it is of the user's firm (404) and they are its admin (403)."""
    rows = WebhookEndpoint.objects.filter(pk=endpoint_id, firm_id=_firm_of(user))
    if for_update:
        rows = rows.select_for_update()
    endpoint = rows.first()
    if endpoint is None:
        raise Http404("No such webhook endpoint.")
    admin_firm_id(user)
    return endpoint


def delivery_get_for_admin(
    *, user: Any, delivery_id: int, for_update: bool = False
) -> WebhookDelivery:
    rows = WebhookDelivery.objects.filter(
        pk=delivery_id, endpoint__firm_id=_firm_of(user)
    ).select_related("endpoint")
    if for_update:
        rows = rows.select_for_update(of=("self",))
    delivery = rows.first()
    if delivery is None:
        raise Http404("No such delivery.")
    admin_firm_id(user)
    return mark_withheld([delivery])[0]


def mark_withheld(deliveries: list[WebhookDelivery]) -> list[WebhookDelivery]:
    """Set `withheld` on deliveries of a matter walled (or gone) since they were
    made: never sent, their payload shown to nobody, never resent."""
    matter_ids = {(d.payload.get("matter") or {}).get("id") for d in deliveries} - {
        None
    }
    open_ids = set(
        Matter.objects.filter(pk__in=matter_ids, is_restricted=False).values_list(
            "pk", flat=True
        )
    )
    for delivery in deliveries:
        matter_id = (delivery.payload.get("matter") or {}).get("id")
        delivery.withheld = matter_id is not None and matter_id not in open_ids
    return deliveries


def delivery_list_for_endpoint(
    *,
    endpoint: WebhookEndpoint,
    status: str | None = None,
    before_id: int | None = None,
    limit: int = RECENT_DELIVERIES,
) -> list[WebhookDelivery]:
    """Newest first, each with its attempts (oldest first)."""
    rows = WebhookDelivery.objects.filter(endpoint=endpoint)
    if status:
        rows = rows.filter(status=status)
    if before_id:
        rows = rows.filter(pk__lt=before_id)
    return mark_withheld(
        list(
            rows.order_by("-id").prefetch_related(
                Prefetch("attempt_log", queryset=WebhookAttempt.objects.order_by("id"))
            )[:limit]
        )
    )


def delivery_with_attempts(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """The delivery again, with its attempts, for a fragment after an action."""
    fresh = (
        WebhookDelivery.objects.filter(pk=delivery.pk)
        .select_related("endpoint")
        .prefetch_related(
            Prefetch("attempt_log", queryset=WebhookAttempt.objects.order_by("id"))
        )
        .get()
    )
    return mark_withheld([fresh])[0]
