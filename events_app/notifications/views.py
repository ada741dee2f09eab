"""Pages and actions of notifications: the list, reading, preferences, watching.

Every view needs a login and reads through `notifications.selectors`, which
scopes to the user's own notifications about matters they can see: another
person's notification id is a 404, like a task behind a wall. Bad input is
a 400 with a message (hivelight.http.action), never a 500.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
)
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from events_app.notifications import selectors, services
from events_app.notifications.forms import PreferenceForm, positive_int
from hivelight.http import action, local_url, login_required, next_url, wants_json
from tasks_app import services as task_services

PAGE_SIZE = 30


def _back(request: HttpRequest, default: str) -> HttpResponse:
    return HttpResponseRedirect(next_url(request, default))


# --- the list ---------------------------------------------------------------------


@login_required
@require_GET
@action
def notification_list(request: HttpRequest) -> HttpResponse:
    """Newest first, 30 a page; `?unread=1` shows only the unread ones."""
    unread_only = request.GET.get("unread") == "1"
    number = positive_int("page", request.GET) or 1
    rows = selectors.notification_list_for_user(
        user=request.user, unread_only=unread_only
    )
    paginator = Paginator(rows, PAGE_SIZE, allow_empty_first_page=True)
    page = paginator.get_page(number)
    items = list(page.object_list)
    unread = selectors.notification_unread_count(user=request.user)
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
    notification = services.notification_mark_read(
        user=request.user, notification_id=notification_id
    )
    return HttpResponseRedirect(
        local_url(request, notification.url, reverse("notifications"))
    )


@login_required
@require_POST
@action
def notification_read(request: HttpRequest, notification_id: int) -> HttpResponse:
    notification = services.notification_mark_read(
        user=request.user, notification_id=notification_id
    )
    unread = selectors.notification_unread_count(user=request.user)
    if wants_json(request):
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
    up_to = positive_int("up_to", request.POST)
    marked = services.notification_mark_all_read(user=request.user, up_to_id=up_to)
    unread = selectors.notification_unread_count(user=request.user)
    if wants_json(request):
        return JsonResponse({"marked": marked, "unread": unread})
    return _back(request, reverse("notifications"))


@login_required
@require_GET
def notification_bell(request: HttpRequest) -> HttpResponse:
    """The unread count: JSON for scripts, the bell fragment for htmx."""
    unread = selectors.notification_unread_count(user=request.user)
    if wants_json(request):
        return JsonResponse({"unread": unread})
    return render(
        request, "events_app/partials/notification_bell.html", {"unread": unread}
    )


# --- preferences ------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def notification_preferences(request: HttpRequest) -> HttpResponse:
    current = selectors.preference_for(user=request.user)
    if request.method == "GET":
        form = PreferenceForm(instance=current)
        return _preferences_page(request, form)
    form = PreferenceForm(request.POST, instance=current)
    if not form.is_valid():
        return _preferences_page(request, form, status=400)
    services.preference_update(user=request.user, **form.cleaned_data)
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
    if wants_json(request):
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
    task_services.task_watch(actor=request.user, task_id=task_id)
    return _watch_response(request, task_id, watching=True)


@login_required
@require_POST
@action
def task_unwatch(request: HttpRequest, task_id: int) -> HttpResponse:
    task_services.task_unwatch(actor=request.user, task_id=task_id)
    return _watch_response(request, task_id, watching=False)
