"""Pages over the event store: histories, matter feeds, the activity calendar, audit.

Access is decided in events_app.selectors (404 for what the viewer may not
see, 403 for a refused role); bad input is a 400 with its message; a store
that cannot be reached is a 503 with a message, never a 500.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import itertools
import json
import logging
import zoneinfo
from collections.abc import Callable, Iterator
from typing import Any

from django.core.exceptions import ValidationError
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_GET

from events_app import activity, names, selectors, sentences, store
from events_app.forms import AuditForm, first_error, parse_positive_int
from tasks_app.models import Comment, Milestone, Task, User
from tasks_app.views import action, login_required

logger = logging.getLogger(__name__)

HISTORY_PAGE = 30
FEED_PAGE = 40
AUDIT_PAGE = 50
STORE_DOWN = "The activity record is unavailable just now. Please try again shortly."

View = Callable[..., HttpResponse]


def _wants_json(request: HttpRequest) -> bool:
    return request.headers.get("Accept", "").startswith("application/json")


def store_errors(view: View) -> View:
    """A bad cursor is a 400 (through `action`); an unreachable store a 503."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except store.InvalidCursor as exc:
            raise ValidationError(
                "That page link has expired or was changed; start again."
            ) from exc
        except store.StoreError:
            logger.warning("event store error in %s", request.path, exc_info=True)
            return store_unavailable(request)

    return wrapper


def store_unavailable(request: HttpRequest) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse({"error": STORE_DOWN}, status=503)
    if request.htmx:
        return HttpResponse(
            f'<p class="form-error" role="alert">{STORE_DOWN}</p>', status=503
        )
    return render(
        request,
        "tasks_app/action_error.html",
        {"message": STORE_DOWN, "status": 503, "back": ""},
        status=503,
    )


def _cursor(request: HttpRequest) -> str | None:
    return request.GET.get("cursor") or None


def _tz(request: HttpRequest) -> str:
    return request.user.effective_timezone


def _today(tz: str) -> dt.date:
    return timezone.now().astimezone(zoneinfo.ZoneInfo(tz)).date()


def _with_query(url: str, **params: Any) -> str:
    kept = {k: v for k, v in params.items() if v not in (None, "")}
    return f"{url}?{urlencode(kept)}" if kept else url


# --- rows: sentences with links -----------------------------------------------------


def _rows(
    request: HttpRequest, events: list[dict[str, Any]], *, audit: bool = False
) -> list[dict[str, Any]]:
    """Sentences for events, each with a link to what it is about.

    Pages link to the live entity when it still exists (one query per kind
    and page); the audit view links every row to the entity's history, so
    deleted tasks stay readable there.
    """
    described = sentences.describe_all(events, tz=_tz(request))
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
    return _with_query(url, task=target["parent"])


def _history_response(
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
        "rows": _rows(request, page.items, audit=audit),
        "next_url": _with_query(more_url, cursor=page.next_cursor)
        if page.next_cursor
        else None,
        "first_page": _cursor(request) is None,
        "title": title,
        "subject_url": subject_url,
        "intro": intro,
        "audit": audit,
        "show_links": audit,
        "tz": _tz(request),
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
@store_errors
def task_history(request: HttpRequest, task_id: int) -> HttpResponse:
    page = selectors.task_history(
        viewer=request.user,
        task_id=task_id,
        cursor=_cursor(request),
        limit=HISTORY_PAGE,
    )
    task = Task.objects.only("title").get(pk=task_id)
    return _history_response(
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
@store_errors
def comment_history(request: HttpRequest, comment_id: int) -> HttpResponse:
    page = selectors.comment_history(
        viewer=request.user,
        comment_id=comment_id,
        cursor=_cursor(request),
        limit=HISTORY_PAGE,
    )
    comment = Comment.objects.select_related("task").get(pk=comment_id)
    return _history_response(
        request,
        page=page,
        title=f"History of a comment on “{comment.task.title}”",
        subject_url=f"{comment.task.get_absolute_url()}#comment-{comment.pk}",
        more_url=reverse("comment_history", args=[comment_id]),
    )


@login_required
@require_GET
@action
@store_errors
def milestone_history(request: HttpRequest, milestone_id: int) -> HttpResponse:
    page = selectors.milestone_history(
        viewer=request.user,
        milestone_id=milestone_id,
        cursor=_cursor(request),
        limit=HISTORY_PAGE,
    )
    milestone = Milestone.objects.get(pk=milestone_id)
    return _history_response(
        request,
        page=page,
        title=f"History of milestone “{milestone.name}”",
        subject_url=milestone.get_absolute_url(),
        more_url=reverse("milestone_history", args=[milestone_id]),
    )


@login_required
@require_GET
@action
@store_errors
def matter_feed(request: HttpRequest, matter_id: int) -> HttpResponse:
    matter, page = selectors.matter_feed(
        viewer=request.user,
        matter_id=matter_id,
        cursor=_cursor(request),
        limit=FEED_PAGE,
    )
    url = reverse("matter_feed", args=[matter.pk])
    context = {
        "matter": matter,
        "rows": _rows(request, page.items),
        "next_url": _with_query(url, cursor=page.next_cursor)
        if page.next_cursor
        else None,
        "first_page": _cursor(request) is None,
        "feed_url": url,
        "title": "Latest events",
        "show_links": True,
    }
    if request.htmx and not context["first_page"]:
        return render(request, "events_app/partials/history_rows.html", context)
    return render(request, "events_app/matter_feed.html", context)


# --- the activity calendar -------------------------------------------------------


def _calendar_context(request: HttpRequest, subject: User) -> dict[str, Any]:
    tz = _tz(request)
    today = _today(tz)
    year = parse_positive_int(request.GET.get("year"), "year")
    if year is not None and not 2000 <= year <= today.year:
        raise ValidationError(f"Pick a year from 2000 to {today.year}.")
    key = request.GET.get("filter") or activity.DEFAULT_FILTER
    chosen = activity.FILTERS.get(key)
    if chosen is None:
        raise ValidationError(f"“{key[:40]}” is not a calendar filter.")
    start, end = activity.period(today=today, year=year)
    counts = selectors.calendar_counts(
        viewer=request.user,
        subject=subject,
        start_date=start,
        end_date=end,
        tz=tz,
        calendar_filter=chosen,
    )
    calendar = activity.build(counts=counts, start=start, end=end)
    first_year = min(subject.date_joined.year, today.year - 4)
    params = {"year": year, "filter": key if key != activity.DEFAULT_FILTER else None}
    return {
        "subject": subject,
        "is_self": subject.pk == request.user.pk,
        "calendar": calendar,
        "filter": chosen,
        "filter_json": json.dumps(chosen.as_json()),
        "filters": list(activity.FILTERS.values()),
        "year": year,
        "years": list(range(today.year, first_year - 1, -1)),
        "tz": tz,
        "today": today,
        "page_url": _with_query(reverse("activity", args=[subject.pk]), **params),
        "grid_url": _with_query(reverse("activity_grid", args=[subject.pk]), **params),
        "base_grid_url": reverse("activity_grid", args=[subject.pk]),
    }


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
@store_errors
def activity_page(request: HttpRequest, user_id: int) -> HttpResponse:
    subject = selectors.activity_subject(viewer=request.user, user_id=user_id)
    context = _calendar_context(request, subject)
    context["people"] = (
        selectors.firm_people(viewer=request.user)
        if selectors.can_audit(request.user)
        else []
    )
    return render(request, "events_app/activity.html", context)


@login_required
@require_GET
@action
@store_errors
def activity_grid(request: HttpRequest, user_id: int) -> HttpResponse:
    """The calendar alone (filter and year changes, re-sync after reconnect)."""
    subject = selectors.activity_subject(viewer=request.user, user_id=user_id)
    context = _calendar_context(request, subject)
    response = render(request, "events_app/partials/calendar.html", context)
    if request.htmx and request.htmx.trigger == "calendar-controls":
        # A new filter or year: the address bar follows, for reload and sharing.
        response["HX-Push-Url"] = context["page_url"]
    return response


# --- audit ----------------------------------------------------------------------


def _audit_form(request: HttpRequest) -> AuditForm:
    selectors.require_auditor(request.user)
    tz = _tz(request)
    return AuditForm(
        request.GET,
        people=selectors.firm_people(viewer=request.user),
        matters=selectors.firm_matters(viewer=request.user),
        tz=tz,
        today=_today(tz),
    )


@login_required
@require_GET
@action
@store_errors
def audit(request: HttpRequest) -> HttpResponse:
    form = _audit_form(request)
    context: dict[str, Any] = {
        "form": form,
        "event_names": sorted(names.ALL),
    }
    status = 200
    if form.is_valid():
        page = selectors.audit_events(
            viewer=request.user,
            query=form.query(),
            cursor=_cursor(request),
            limit=AUDIT_PAGE,
        )
        query = form.querystring()
        base = reverse("audit")
        context.update(
            rows=_rows(request, page.items, audit=True),
            query=query,
            first_page=_cursor(request) is None,
            first_url=f"{base}?{query}",
            next_url=f"{base}?{query}&{urlencode({'cursor': page.next_cursor})}"
            if page.next_cursor
            else None,
            csv_url=f"{reverse('audit_export', args=['csv'])}?{query}",
            jsonl_url=f"{reverse('audit_export', args=['jsonl'])}?{query}",
        )
    else:
        status = 400
    return render(request, "events_app/audit.html", context, status=status)


EXPORT_COLUMNS = [
    "occurred_at",
    "id",
    "name",
    "actor_id",
    "actor_name",
    "subject_type",
    "subject_id",
    "subject_label",
    "parent_type",
    "parent_id",
    "parent_label",
    "matter_id",
    "matter_label",
    "changes",
    "source",
    "request_id",
]
# Spreadsheets run cells starting with these as formulas (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def export_row(event: dict[str, Any]) -> list[Any]:
    """One CSV row of an event, in EXPORT_COLUMNS order."""
    actor = event.get("actor") or {}
    subject = event.get("subject") or {}
    parent = event.get("parent") or {}
    matter = event.get("matter") or {}
    context = event.get("context") or {}
    row = [
        event["occurred_at"],
        event["id"],
        event["name"],
        actor.get("id"),
        actor.get("name"),
        subject.get("type"),
        subject.get("id"),
        subject.get("label"),
        parent.get("type"),
        parent.get("id"),
        parent.get("label"),
        matter.get("id"),
        matter.get("label"),
        json.dumps(event.get("changes") or {}, ensure_ascii=False, sort_keys=True),
        context.get("source"),
        context.get("request_id"),
    ]
    return [_csv_cell(v) for v in row]


class _Line:
    """A file-like object whose write returns the line (csv.writer to a stream)."""

    def write(self, value: str) -> str:
        return value


def _export_lines(
    first: dict[str, Any] | None, rest: Iterator[dict[str, Any]], fmt: str
) -> Iterator[str]:
    writer = csv.writer(_Line())
    if fmt == "csv":
        yield writer.writerow(EXPORT_COLUMNS)
    if first is None:
        return
    try:
        for event in itertools.chain([first], rest):
            if fmt == "csv":
                yield writer.writerow(export_row(event))
            else:
                yield json.dumps(event, ensure_ascii=False, sort_keys=True) + "\n"
    except store.StoreError:
        # Headers are gone: the best left is to say plainly that it stops here.
        logger.warning("audit export cut short by the event store", exc_info=True)
        note = "export incomplete: the event store became unavailable"
        if fmt == "csv":
            yield writer.writerow([f"#ERROR {note}"])
        else:
            yield json.dumps({"error": note}) + "\n"


@login_required
@require_GET
@action
@store_errors
def audit_export(request: HttpRequest, fmt: str) -> HttpResponse:
    """The audit selection as CSV or JSON Lines, streamed page by page."""
    if fmt not in ("csv", "jsonl"):
        raise Http404("No such export.")
    form = _audit_form(request)
    if not form.is_valid():
        raise ValidationError(_form_errors(form))
    events = selectors.audit_export(viewer=request.user, query=form.query())
    # The first page is read before answering, so a store that is down is a
    # 503 rather than a broken download.
    first = next(events, None)
    data = form.cleaned_data
    filename = f"hivelight-audit-{data['date_from']}-{data['date_to']}.{fmt}"
    response = StreamingHttpResponse(
        _export_lines(first, events, fmt),
        content_type="text/csv; charset=utf-8"
        if fmt == "csv"
        else "application/x-ndjson; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


def _form_errors(form: AuditForm) -> str:
    parts = []
    for field, errors in form.errors.items():
        text = " ".join(errors)
        parts.append(text if field == "__all__" else f"{form[field].label}: {text}")
    return " ".join(parts)


@login_required
@require_GET
@action
@store_errors
def audit_history(
    request: HttpRequest, subject_type: str, subject_id: int
) -> HttpResponse:
    """Any entity's full history for auditors, including deleted tasks."""
    selectors.require_auditor(request.user)
    parent = None
    if subject_type == "comment":
        try:
            task_id = parse_positive_int(request.GET.get("task"), "task")
        except ValidationError as exc:
            raise ValidationError(first_error(exc)) from exc
        parent = (
            ("task", task_id)
            if task_id
            else selectors.comment_parent(viewer=request.user, comment_id=subject_id)
        )
        if parent is None:
            raise Http404("No such comment.")
    ref = selectors.EntityRef(subject_type, subject_id, parent)
    page = selectors.audit_history(
        viewer=request.user, ref=ref, cursor=_cursor(request), limit=HISTORY_PAGE
    )
    label = _label_of(page.items, subject_type, subject_id)
    live_url = None
    if subject_type == "task" and Task.objects.filter(pk=subject_id).exists():
        live_url = reverse("task_detail", args=[subject_id])
    more = _with_query(
        reverse("audit_history", args=[subject_type, subject_id]),
        task=parent[1] if parent else None,
    )
    return _history_response(
        request,
        page=page,
        title=f"Audit history of {subject_type} {label}",
        subject_url=live_url,
        more_url=more,
        audit=True,
        intro="Every recorded event, page views and reorders included.",
    )


def _label_of(events: list[dict[str, Any]], subject_type: str, subject_id: int) -> str:
    for event in events:
        subject = event.get("subject") or {}
        if subject.get("type") == subject_type and subject.get("id") == subject_id:
            return sentences.quoted(subject.get("label"))
    return f"#{subject_id}"
