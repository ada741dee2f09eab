"""Pages and actions of a firm's webhooks, for its firm admins.

Every view needs a login and goes through `selectors`/`services`: another
firm's endpoint or delivery is a 404, a colleague without the firm admin
role gets a 403 that says why. Bad input is a form error or a 400 with a
message (hivelight.http.action), never a 500. A new or rotated secret is
shown once: it is kept in the session only until the next page shows it.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from events_app.notifications.forms import positive_int
from events_app.webhooks import selectors, services, signing
from events_app.webhooks.forms import STATUS_FILTERS, EndpointForm, status_filter
from hivelight.http import action, login_required

REVEAL_KEY = "webhook_secret_reveal"


def _reveal_later(request: HttpRequest, endpoint_id: int, secret: str) -> None:
    request.session[REVEAL_KEY] = {"endpoint_id": endpoint_id, "secret": secret}


def _take_reveal(request: HttpRequest, endpoint_id: int) -> str:
    """The secret to show once, if it was just made for this endpoint."""
    reveal = request.session.get(REVEAL_KEY)
    if not reveal or reveal.get("endpoint_id") != endpoint_id:
        return ""
    del request.session[REVEAL_KEY]
    return reveal.get("secret", "")


@login_required
@require_GET
@action
def webhook_list(request: HttpRequest) -> HttpResponse:
    endpoints = list(selectors.endpoint_list_for_admin(user=request.user))
    return render(request, "events_app/webhooks/list.html", {"endpoints": endpoints})


@login_required
@require_http_methods(["GET", "POST"])
@action
def webhook_create(request: HttpRequest) -> HttpResponse:
    selectors.admin_firm_id(request.user)
    if request.method == "GET":
        return _form_page(request, EndpointForm(), endpoint=None)
    form = EndpointForm(request.POST)
    if not form.is_valid():
        return _form_page(request, form, endpoint=None, status=400)
    endpoint, secret = services.endpoint_create(actor=request.user, **form.cleaned_data)
    _reveal_later(request, endpoint.pk, secret)
    messages.success(request, "Webhook endpoint added.")
    return redirect("webhook_detail", endpoint.pk)


@login_required
@require_http_methods(["GET", "POST"])
@action
def webhook_edit(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    endpoint = selectors.endpoint_get_for_admin(
        user=request.user, endpoint_id=endpoint_id
    )
    if request.method == "GET":
        form = EndpointForm(initial=EndpointForm.initial_of(endpoint))
        return _form_page(request, form, endpoint=endpoint)
    form = EndpointForm(request.POST)
    if not form.is_valid():
        return _form_page(request, form, endpoint=endpoint, status=400)
    services.endpoint_update(
        actor=request.user, endpoint_id=endpoint.pk, **form.cleaned_data
    )
    messages.success(request, "Webhook endpoint saved.")
    return redirect("webhook_detail", endpoint.pk)


def _form_page(
    request: HttpRequest, form: EndpointForm, *, endpoint: Any, status: int = 200
) -> HttpResponse:
    return render(
        request,
        "events_app/webhooks/form.html",
        {"form": form, "endpoint": endpoint, "event_names": services.SENDABLE},
        status=status,
    )


@login_required
@require_GET
@action
def webhook_detail(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    endpoint = selectors.endpoint_get_for_admin(
        user=request.user, endpoint_id=endpoint_id
    )
    status = status_filter(request.GET)
    before = positive_int("before", request.GET)
    deliveries = selectors.delivery_list_for_endpoint(
        endpoint=endpoint, status=status or None, before_id=before
    )
    older = (
        deliveries[-1].pk if len(deliveries) == selectors.RECENT_DELIVERIES else None
    )
    return render(
        request,
        "events_app/webhooks/detail.html",
        {
            "endpoint": endpoint,
            "secret": _take_reveal(request, endpoint.pk),
            "secret_hint": signing.hint(endpoint.secret),
            "previous_hint": (
                signing.hint(endpoint.previous_secret)
                if endpoint.previous_secret
                and endpoint.previous_secret_expires_at
                and endpoint.previous_secret_expires_at > timezone.now()
                else ""
            ),
            "deliveries": deliveries,
            "status": status,
            "status_filters": STATUS_FILTERS,
            "before": before,
            "older": older,
        },
    )


@login_required
@require_POST
@action
def webhook_toggle(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    turn_on = request.POST.get("enable") == "1"
    services.endpoint_set_enabled(
        actor=request.user, endpoint_id=endpoint_id, is_enabled=turn_on
    )
    messages.success(
        request, "Endpoint turned on." if turn_on else "Endpoint turned off."
    )
    return redirect("webhook_detail", endpoint_id)


@login_required
@require_POST
@action
def webhook_rotate(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    secret = services.endpoint_rotate_secret(
        actor=request.user, endpoint_id=endpoint_id
    )
    _reveal_later(request, endpoint_id, secret)
    messages.success(
        request,
        "New signing secret made. The previous one keeps signing too for 24 hours.",
    )
    return redirect("webhook_detail", endpoint_id)


@login_required
@require_POST
@action
def webhook_delete(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    services.endpoint_delete(actor=request.user, endpoint_id=endpoint_id)
    messages.success(request, "Webhook endpoint deleted.")
    return redirect("webhooks")


@login_required
@require_POST
@action
def webhook_test(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    delivery = services.endpoint_send_test(actor=request.user, endpoint_id=endpoint_id)
    if request.htmx:
        return _delivery_fragment(request, delivery)
    messages.success(request, "Test event sent.")
    return redirect("webhook_detail", endpoint_id)


@login_required
@require_POST
@action
def delivery_resend(request: HttpRequest, delivery_id: int) -> HttpResponse:
    delivery = services.delivery_resend(actor=request.user, delivery_id=delivery_id)
    if request.htmx:
        return _delivery_fragment(request, delivery)
    messages.success(request, "Delivery queued again.")
    return redirect("webhook_detail", delivery.endpoint_id)


@login_required
@require_GET
@action
def delivery_row(request: HttpRequest, delivery_id: int) -> HttpResponse:
    """One delivery with its attempts (the page refreshes pending ones)."""
    delivery = selectors.delivery_get_for_admin(
        user=request.user, delivery_id=delivery_id
    )
    return _delivery_fragment(request, delivery)


def _delivery_fragment(request: HttpRequest, delivery: Any) -> HttpResponse:
    fresh = selectors.delivery_with_attempts(delivery=delivery)
    return render(
        request, "events_app/webhooks/partials/delivery.html", {"delivery": fresh}
    )
