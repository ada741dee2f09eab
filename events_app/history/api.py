"""The events API: JSON over session authentication, with the pages' access rules.

    GET /api/events/?user=<id>&from=<iso>&to=<iso>[&name_prefix=][&names=a,b]
        [&cursor=][&limit=][&tz=]
        -> {"events": [...], "next": <cursor or null>}
    GET /api/activity/daily/?user=<id>&from=<date>&to=<date>
        [&names=a,b | &name_prefix=][&tz=<IANA>]
        -> {"2023-03-27": 23, ...}   (days without events omitted)
    GET /api/tasks/<id>/history/[?cursor=&limit=]
        -> {"events": [...], "next": ...}, newest first

`user` defaults to the caller. Anonymous callers get 401, bad input 400,
another firm's user or task 404, a colleague's activity without the firm
admin role 403, an unreachable store 503; every error is `{"error": "..."}`.
Times without an offset, and the days of `/daily/`, are in `tz` (default:
the caller's timezone setting, else their firm's). Hidden names
(`task.moved`, `task.viewed`) are left out unless named in `names`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse

from events_app import envelope, store
from events_app.history import selectors
from events_app.history.forms import (
    MAX_RANGE_DAYS,
    check_range,
    parse_date,
    parse_instant,
    parse_limit,
    parse_names,
    parse_positive_int,
    parse_prefix,
    parse_timezone,
)
from hivelight.http import action, login_required
from tasks_app.models import User

ApiView = Callable[..., dict[str, Any]]


def api_view(view: ApiView) -> Callable[..., HttpResponse]:
    """GET only, login required (401, not a redirect), every answer JSON."""

    @login_required(json=True)
    @action(json=True)
    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method not in ("GET", "HEAD"):
            response = JsonResponse({"error": "Use GET."}, status=405)
            response["Allow"] = "GET, HEAD"
            return response
        return JsonResponse(view(request, *args, **kwargs))

    return wrapper


def _subject(request: HttpRequest) -> User:
    user_id = parse_positive_int(request.GET.get("user"), "user")
    return selectors.activity_subject(
        viewer=request.user, user_id=user_id or request.user.pk
    )


def _tz(request: HttpRequest) -> str:
    return parse_timezone(request.GET.get("tz"), request.user.effective_timezone)


# The envelope as the API shows it: without the tab's live channel name.
public_event = envelope.public


def _page(page: store.Page) -> dict[str, Any]:
    return {
        "events": [public_event(e) for e in page.items],
        "next": page.next_cursor,
    }


@api_view
def events(request: HttpRequest) -> dict[str, Any]:
    tz = _tz(request)
    start = parse_instant(request.GET.get("from"), "from", tz)
    # `to` as given orders the range (to=2023-03-01 is before from=2023-03-02);
    # a date alone then ends after its whole day.
    check_range(start, parse_instant(request.GET.get("to"), "to", tz))
    end = parse_instant(request.GET.get("to"), "to", tz, end=True)
    check_range(start, end, limit_days=MAX_RANGE_DAYS)
    names_ = parse_names(request.GET.get("names"))
    prefix = parse_prefix(request.GET.get("name_prefix"))
    limit = parse_limit(request.GET.get("limit"))
    subject = _subject(request)
    page = selectors.user_events(
        viewer=request.user,
        subject=subject,
        start=start,
        end=end,
        names_=names_,
        name_prefix=prefix,
        cursor=request.GET.get("cursor") or None,
        limit=limit,
    )
    return _page(page)


@api_view
def daily(request: HttpRequest) -> dict[str, Any]:
    tz = _tz(request)
    start = parse_date(request.GET.get("from"), "from")
    end = parse_date(request.GET.get("to"), "to")
    check_range(start, end, limit_days=MAX_RANGE_DAYS)
    names_ = parse_names(request.GET.get("names"))
    prefix = parse_prefix(request.GET.get("name_prefix"))
    subject = _subject(request)
    return selectors.daily_counts(
        viewer=request.user,
        subject=subject,
        start_date=start,
        end_date=end,
        tz=tz,
        names_=names_,
        name_prefix=prefix,
    )


@api_view
def task_history(request: HttpRequest, task_id: int) -> dict[str, Any]:
    """A visible task's history; auditors also reach deleted and walled tasks."""
    cursor = request.GET.get("cursor") or None
    limit = parse_limit(request.GET.get("limit"), default=50)
    try:
        page = selectors.task_history(
            viewer=request.user, task_id=task_id, cursor=cursor, limit=limit
        )
    except Http404:
        if not selectors.can_audit(request.user):
            raise
        page = selectors.audit_history(
            viewer=request.user,
            ref=selectors.EntityRef("task", task_id),
            cursor=cursor,
            limit=limit,
            include_hidden=False,
        )
    return _page(page)
