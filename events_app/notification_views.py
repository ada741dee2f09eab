"""Pages and actions of notifications: the list, reading, preferences, watching.

Every view needs a login and reads through `events_app.notifications`, which
scopes to the user's own notifications about matters they can see: another
person's notification id is a 404, like a task behind a wall. Bad input is
a 400 with a message (tasks_app.views.action), never a 500.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
)
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from events_app import notifications
from events_app.models import NotificationPreference
from tasks_app import services
from tasks_app.views import action, login_required

PAGE_SIZE = 30


class PreferenceForm(forms.ModelForm):
    class Meta:
        model = NotificationPreference
        fields = ["email_on_assignment", "email_on_mention"]
        labels = {
            "email_on_assignment": "Email me when a task is assigned to me",
            "email_on_mention": "Email me when someone @mentions me",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


def _wants_json(request: HttpRequest) -> bool:
    return request.headers.get("Accept", "").startswith("application/json")


def _positive_int(name: str, source: Any) -> int | None:
    """An optional positive whole number from the query or form, else a 400."""
    raw = source.get(name)
    if raw in (None, ""):
        return None
    if not raw.isascii() or not raw.isdigit() or int(raw) < 1 or len(raw) > 18:
        raise ValidationError(f"“{raw[:40]}” is not a valid {name}.")
    return int(raw)


def _local_url(request: HttpRequest, url: str, default: str) -> str:
    """`url` if it stays on this site, else `default` (no open redirects)."""
    if url and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return url
    return default


def _back(request: HttpRequest, default: str) -> HttpResponse:
    target = request.POST.get("next") or request.GET.get("next") or ""
    return HttpResponseRedirect(_local_url(request, target, default))


# --- the list ---------------------------------------------------------------------


@login_required
@require_GET
@action
def notification_list(request: HttpRequest) -> HttpResponse:
    """Newest first, 30 a page; `?unread=1` shows only the unread ones."""
    unread_only = request.GET.get("unread") == "1"
    number = _positive_int("page", request.GET) or 1
    rows = notifications.notification_list_for_user(
        user=request.user, unread_only=unread_only
    )
    paginator = Paginator(rows, PAGE_SIZE, allow_empty_first_page=True)
    page = paginator.get_page(number)
    items = list(page.object_list)
    unread = notifications.notification_unread_count(user=request.user)
    return render(
        request,
        "events_app/notifications.html",
        {
            "page": page,
            "items": items,
            "unread_only": unread_only,
            "unread": unread,
            # "Mark all read" stops at the newest one this page has seen.
            "up_to": max((n.pk for n in items), default=None) if number == 1 else None,
        },
    )


@login_required
@require_GET
def notification_open(request: HttpRequest, notification_id: int) -> HttpResponse:
    """Mark read and go to what the notification is about.

    A GET that marks read, as in most inboxes: following a link is reading
    it. It only ever marks the user's own notification.
    """
    notification = notifications.notification_mark_read(
        user=request.user, notification_id=notification_id
    )
    return HttpResponseRedirect(
        _local_url(request, notification.url, reverse("notifications"))
    )


@login_required
@require_POST
@action
def notification_read(request: HttpRequest, notification_id: int) -> HttpResponse:
    notification = notifications.notification_mark_read(
        user=request.user, notification_id=notification_id
    )
    unread = notifications.notification_unread_count(user=request.user)
    if _wants_json(request):
        return JsonResponse({"id": notification.pk, "unread": unread})
    if request.htmx:
        return render(
            request,
            "events_app/partials/notification_item.html",
            {"notification": notification, "unread": unread, "oob_bell": True},
        )
    return _back(request, reverse("notifications"))


@login_required
@require_POST
@action
def notification_read_all(request: HttpRequest) -> HttpResponse:
    up_to = _positive_int("up_to", request.POST)
    marked = notifications.notification_mark_all_read(user=request.user, up_to_id=up_to)
    unread = notifications.notification_unread_count(user=request.user)
    if _wants_json(request):
        return JsonResponse({"marked": marked, "unread": unread})
    return _back(request, reverse("notifications"))


@login_required
@require_GET
def notification_bell(request: HttpRequest) -> HttpResponse:
    """The unread count: JSON for scripts, the bell fragment for htmx."""
    unread = notifications.notification_unread_count(user=request.user)
    if _wants_json(request):
        return JsonResponse({"unread": unread})
    return render(
        request, "events_app/partials/notification_bell.html", {"unread": unread}
    )


# --- preferences ------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def notification_preferences(request: HttpRequest) -> HttpResponse:
    current = notifications.preference_for(user=request.user)
    if request.method == "GET":
        form = PreferenceForm(instance=current)
        return _preferences_page(request, form)
    form = PreferenceForm(request.POST, instance=current)
    if not form.is_valid():
        return _preferences_page(request, form, status=400)
    notifications.preference_update(user=request.user, **form.cleaned_data)
    messages.success(request, "Notification settings saved.")
    return redirect("notification_preferences")


def _preferences_page(
    request: HttpRequest, form: PreferenceForm, status: int = 200
) -> HttpResponse:
    return render(
        request,
        "events_app/notifications_preferences.html",
        {"form": form},
        status=status,
    )


# --- watching ---------------------------------------------------------------------


def _watch_response(request: HttpRequest, task_id: int, watching: bool) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse({"task_id": task_id, "watching": watching})
    if request.htmx:
        return render(
            request,
            "events_app/partials/watch_button.html",
            {"task_id": task_id, "watching": watching},
        )
    return _back(request, reverse("task_detail", args=[task_id]))


@login_required
@require_POST
@action
def task_watch(request: HttpRequest, task_id: int) -> HttpResponse:
    services.task_watch(actor=request.user, task_id=task_id)
    return _watch_response(request, task_id, watching=True)


@login_required
@require_POST
@action
def task_unwatch(request: HttpRequest, task_id: int) -> HttpResponse:
    services.task_unwatch(actor=request.user, task_id=task_id)
    return _watch_response(request, task_id, watching=False)
