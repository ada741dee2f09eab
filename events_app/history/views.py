"""Pages over the event store: histories, matter feeds, the activity calendars.

Access is decided in history.selectors (404 for what the viewer may not
see, 403 for a refused role); bad input is a 400 with its message; a store
that cannot be reached is a 503 with a message, never a 500 (all through
hivelight.http.action).
"""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_GET

from events_app import names, store
from events_app.history import calendar, selectors, sentences
from events_app.history.forms import parse_date, parse_positive_int
from hivelight.http import action, login_required
from tasks_app.models import Comment, Matter, Milestone, Task, User

HISTORY_PAGE = 30
FEED_PAGE = 40


def cursor_of(request: HttpRequest) -> str | None:
    return request.GET.get("cursor") or None


def tz_of(request: HttpRequest) -> str:
    return request.user.effective_timezone


def today_in(tz: str) -> dt.date:
    return timezone.now().astimezone(zoneinfo.ZoneInfo(tz)).date()


def with_query(url: str, **params: Any) -> str:
    kept = {k: v for k, v in params.items() if v not in (None, "")}
    return f"{url}?{urlencode(kept)}" if kept else url


# --- rows: sentences with links -----------------------------------------------------


def rows_of(
    request: HttpRequest, events: list[dict[str, Any]], *, audit: bool = False
) -> list[dict[str, Any]]:
    """Sentences for events, each with a link to what it is about.

    Pages link to the live entity when it still exists (one query per kind
    and page); the audit view links every row to the entity's history, so
    deleted tasks stay readable there.
    """
    described = sentences.describe_all(events, tz=tz_of(request))
    live_tasks: set[int] = set()
    if not audit:
        task_ids = set()
        for event in events:
            subject, parent = event.get("subject") or {}, event.get("parent") or {}
            if subject.get("type") == "task":
                task_ids.add(subject.get("id"))
            if parent.get("type") == "task":
                task_ids.add(parent.get("id"))
        live_tasks = set(
            Task.objects.filter(
                pk__in=[i for i in task_ids if isinstance(i, int)]
            ).values_list("pk", flat=True)
        )
    rows = []
    for sentence in described:
        rows.append(
            {
                "sentence": sentence,
                "link": _audit_link(sentence.event)
                if audit
                else _page_link(sentence.event, live_tasks),
            }
        )
    return rows


def _page_link(event: dict[str, Any], live_tasks: set[int]) -> str | None:
    subject, parent = event.get("subject") or {}, event.get("parent") or {}
    if subject.get("type") == "task" and subject.get("id") in live_tasks:
        return reverse("task_detail", args=[subject["id"]])
    if parent.get("type") == "task" and parent.get("id") in live_tasks:
        return reverse("task_detail", args=[parent["id"]]) + f"#comment-{subject['id']}"
    if subject.get("type") == "milestone" and event.get("matter"):
        return reverse("milestones", args=[event["matter"]["id"]])
    return None


def _audit_link(event: dict[str, Any]) -> str | None:
    target = selectors.history_url_kwargs(event)
    if target is None:
        return None
    url = reverse("audit_history", args=[target["type"], target["id"]])
    return with_query(url, task=target["parent"])


def history_response(
    request: HttpRequest,
    *,
    page: store.Page,
    title: str,
    subject_url: str | None,
    more_url: str,
    audit: bool = False,
    intro: str = "",
) -> HttpResponse:
    context = {
        "rows": rows_of(request, page.items, audit=audit),
        "next_url": with_query(more_url, cursor=page.next_cursor)
        if page.next_cursor
        else None,
        "first_page": cursor_of(request) is None,
        "title": title,
        "subject_url": subject_url,
        "intro": intro,
        "audit": audit,
        "show_links": audit,
        "tz": tz_of(request),
    }
    if not request.htmx:
        template = "events_app/history.html"
    elif context["first_page"]:
        template = "events_app/partials/history.html"
    else:
        template = "events_app/partials/history_rows.html"
    return render(request, template, context)


# --- histories ----------------------------------------------------------------------


@login_required
@require_GET
@action
def task_history(request: HttpRequest, task_id: int) -> HttpResponse:
    page = selectors.task_history(
        viewer=request.user,
        task_id=task_id,
        cursor=cursor_of(request),
        limit=HISTORY_PAGE,
    )
    task = Task.objects.only("title").get(pk=task_id)
    return history_response(
        request,
        page=page,
        title=f"History of “{task.title}”",
        subject_url=task.get_absolute_url(),
        more_url=reverse("task_history", args=[task_id]),
        intro="Changes to the task and its comments, newest first.",
    )


@login_required
@require_GET
@action
def comment_history(request: HttpRequest, comment_id: int) -> HttpResponse:
    page = selectors.comment_history(
        viewer=request.user,
        comment_id=comment_id,
        cursor=cursor_of(request),
        limit=HISTORY_PAGE,
    )
    comment = Comment.objects.select_related("task").get(pk=comment_id)
    return history_response(
        request,
        page=page,
        title=f"History of a comment on “{comment.task.title}”",
        subject_url=f"{comment.task.get_absolute_url()}#comment-{comment.pk}",
        more_url=reverse("comment_history", args=[comment_id]),
    )


@login_required
@require_GET
@action
def milestone_history(request: HttpRequest, milestone_id: int) -> HttpResponse:
    page = selectors.milestone_history(
        viewer=request.user,
        milestone_id=milestone_id,
        cursor=cursor_of(request),
        limit=HISTORY_PAGE,
    )
    milestone = Milestone.objects.get(pk=milestone_id)
    return history_response(
        request,
        page=page,
        title=f"History of milestone “{milestone.name}”",
        subject_url=milestone.get_absolute_url(),
        more_url=reverse("milestone_history", args=[milestone_id]),
    )


@login_required
@require_GET
@action
def matter_feed(request: HttpRequest, matter_id: int) -> HttpResponse:
    matter, page = selectors.matter_feed(
        viewer=request.user,
        matter_id=matter_id,
        cursor=cursor_of(request),
        limit=FEED_PAGE,
    )
    url = reverse("matter_feed", args=[matter.pk])
    context = {
        "matter": matter,
        "rows": rows_of(request, page.items),
        "next_url": with_query(url, cursor=page.next_cursor)
        if page.next_cursor
        else None,
        "first_page": cursor_of(request) is None,
        "feed_url": url,
        "title": "Latest events",
        "show_links": True,
    }
    if request.htmx and not context["first_page"]:
        return render(request, "events_app/partials/history_rows.html", context)
    return render(request, "events_app/matter_feed.html", context)


# --- the activity calendars: a person's, a matter's --------------------------------


@dataclass(frozen=True)
class CalendarOf:
    """Whose calendar a page draws, and where its parts live.

    One component for both: the same grid, filters, drill-down and live
    updates; only the counts, the addresses and the socket group differ.
    """

    name: str  # in the grid's caption: "Comments of <name>"
    url_names: tuple[str, str, str]  # page, grid, day
    pk: int
    live: str  # the websocket subscription kind
    live_field: str  # its id field
    first_year: int
    filters: dict[str, names.CalendarFilter]
    counts: Callable[[dt.date, dt.date, str, names.CalendarFilter], dict[str, int]]
    is_self: bool = False


def person_calendar(request: HttpRequest, subject: User) -> CalendarOf:
    return CalendarOf(
        name=subject.display_name,
        url_names=("activity", "activity_grid", "activity_day"),
        pk=subject.pk,
        live="activity",
        live_field="user_id",
        first_year=subject.date_joined.year,
        filters=names.CALENDAR_FILTERS,
        counts=lambda start, end, tz, chosen: selectors.calendar_counts(
            viewer=request.user,
            subject=subject,
            start_date=start,
            end_date=end,
            tz=tz,
            calendar_filter=chosen,
        ),
        is_self=subject.pk == request.user.pk,
    )


def matter_calendar_of(matter: Matter) -> CalendarOf:
    return CalendarOf(
        name=matter.name,
        url_names=("matter_calendar", "matter_calendar_grid", "matter_calendar_day"),
        pk=matter.pk,
        live="matter_activity",
        live_field="matter_id",
        first_year=matter.created_at.year,
        filters=names.MATTER_CALENDAR_FILTERS,
        counts=lambda start, end, tz, chosen: selectors.matter_calendar_counts(
            matter=matter,
            start_date=start,
            end_date=end,
            tz=tz,
            calendar_filter=chosen,
        ),
    )


def _chosen_filter(request: HttpRequest, of: CalendarOf) -> names.CalendarFilter:
    key = request.GET.get("filter") or names.DEFAULT_CALENDAR_FILTER
    chosen = of.filters.get(key)
    if chosen is None:
        raise ValidationError(f"“{key[:40]}” is not a calendar filter.")
    return chosen


def _calendar_context(request: HttpRequest, of: CalendarOf) -> dict[str, Any]:
    tz = tz_of(request)
    today = today_in(tz)
    year = parse_positive_int(request.GET.get("year"), "year")
    if year is not None and not 2000 <= year <= today.year:
        raise ValidationError(f"Pick a year from 2000 to {today.year}.")
    chosen = _chosen_filter(request, of)
    start, end = calendar.period(today=today, year=year)
    grid = calendar.build(
        counts=of.counts(start, end, tz, chosen), start=start, end=end
    )
    first_year = min(of.first_year, today.year - 4)
    key = chosen.key if chosen.key != names.DEFAULT_CALENDAR_FILTER else None
    params = {"year": year, "filter": key}
    page, grid_base, day = (reverse(n, args=[of.pk]) for n in of.url_names)
    return {
        "calendar_of": of,
        "is_self": of.is_self,
        "calendar": grid,
        "filter": chosen,
        "filter_json": json.dumps(chosen.as_json()),
        "filters": list(of.filters.values()),
        "year": year,
        "years": list(range(today.year, first_year - 1, -1)),
        "tz": tz,
        "today": today,
        "page_base_url": page,
        "page_url": with_query(page, **params),
        "grid_url": with_query(grid_base, **params),
        "base_grid_url": grid_base,
        "day_url": with_query(day, filter=key),
    }


def _grid_response(request: HttpRequest, of: CalendarOf) -> HttpResponse:
    """The calendar alone (filter and year changes, re-sync after reconnect)."""
    context = _calendar_context(request, of)
    response = render(request, "events_app/partials/calendar.html", context)
    if request.htmx and request.htmx.trigger == "calendar-controls":
        # A new filter or year: the address bar follows, for reload and sharing.
        response["HX-Push-Url"] = context["page_url"]
    return response


def _day_window(request: HttpRequest) -> tuple[dt.date, dt.datetime, dt.datetime]:
    """The local day asked for, and its start and end as instants."""
    day = parse_date(request.GET.get("date"), "date")
    zone = zoneinfo.ZoneInfo(tz_of(request))
    start = dt.datetime.combine(day, dt.time(), zone)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), zone)
    return day, start, end


def _day_response(
    request: HttpRequest,
    of: CalendarOf,
    day: dt.date,
    page: store.Page,
    chosen: names.CalendarFilter,
) -> HttpResponse:
    """A day's events under the calendar's filter: the drill-down panel."""
    return render(
        request,
        "events_app/partials/calendar_day.html",
        {
            "calendar_of": of,
            "day": day,
            "long_date": calendar.long_date(day),
            "filter": chosen,
            "rows": rows_of(request, page.items),
            "more": page.next_cursor is not None,
            "limit": selectors.DAY_EVENTS_LIMIT,
            "show_links": True,
            "title": f"{chosen.label} on {calendar.long_date(day)}",
        },
    )


@login_required
@require_GET
@action
def my_activity(request: HttpRequest) -> HttpResponse:
    """Your own calendar; `?user=<id>` goes to a colleague's (firm admins)."""
    user_id = parse_positive_int(request.GET.get("user"), "user")
    if user_id is not None:
        return redirect("activity", user_id=user_id)
    return activity_page(request, request.user.pk)


@login_required
@require_GET
@action
def activity_page(request: HttpRequest, user_id: int) -> HttpResponse:
    subject = selectors.activity_subject(viewer=request.user, user_id=user_id)
    context = _calendar_context(request, person_calendar(request, subject))
    context["subject"] = subject
    context["people"] = (
        selectors.firm_people(viewer=request.user)
        if selectors.can_audit(request.user)
        else []
    )
    return render(request, "events_app/activity.html", context)


@login_required
@require_GET
@action
def activity_grid(request: HttpRequest, user_id: int) -> HttpResponse:
    subject = selectors.activity_subject(viewer=request.user, user_id=user_id)
    return _grid_response(request, person_calendar(request, subject))


@login_required
@require_GET
@action
def activity_day(request: HttpRequest, user_id: int) -> HttpResponse:
    """A day of a person's calendar: their events the viewer may read."""
    subject = selectors.activity_subject(viewer=request.user, user_id=user_id)
    of = person_calendar(request, subject)
    chosen = _chosen_filter(request, of)
    day, start, end = _day_window(request)
    page = selectors.person_day_events(
        viewer=request.user,
        subject=subject,
        start=start,
        end=end,
        calendar_filter=chosen,
    )
    return _day_response(request, of, day, page, chosen)


@login_required
@require_GET
@action
def matter_calendar(request: HttpRequest, matter_id: int) -> HttpResponse:
    """A matter's activity calendar: its events, whoever did them."""
    matter = selectors.calendar_matter(viewer=request.user, matter_id=matter_id)
    context = _calendar_context(request, matter_calendar_of(matter))
    context["matter"] = matter
    return render(request, "events_app/matter_calendar.html", context)


@login_required
@require_GET
@action
def matter_calendar_grid(request: HttpRequest, matter_id: int) -> HttpResponse:
    matter = selectors.calendar_matter(viewer=request.user, matter_id=matter_id)
    return _grid_response(request, matter_calendar_of(matter))


@login_required
@require_GET
@action
def matter_calendar_day(request: HttpRequest, matter_id: int) -> HttpResponse:
    """A day of a matter's calendar: the events it counts there."""
    matter = selectors.calendar_matter(viewer=request.user, matter_id=matter_id)
    of = matter_calendar_of(matter)
    chosen = _chosen_filter(request, of)
    day, start, end = _day_window(request)
    page = selectors.matter_day_events(
        viewer=request.user,
        matter=matter,
        start=start,
        end=end,
        calendar_filter=chosen,
    )
    return _day_response(request, of, day, page, chosen)
