"""Reads over the event store, scoped to what the viewer may see.

The firm always comes from the viewer's membership, never from the request,
and every store key starts with it, so no read can reach another firm.

Who sees which events:
- a task's, comment's or milestone's history, and a matter's feed: whoever
  may open the matter (tasks_app.selectors: firm, ethical walls); anyone
  else gets a 404, as for the pages themselves;
- a person's events and activity counts: that person and their firm's
  admins; the counts are everything the person did (a counter cannot be
  split by matter), the events listed leave out every walled matter the
  viewer is outside of;
- audit (search, exports, the history of deleted entities, the seals): firm admins,
  compliance officers and staff users with a membership, over their firm.
  Outside a wall a matter and everything in it does not exist, for every
  role: audit leaves out the walled matters the viewer is outside of.
  Compliance officers alone may audit them, and each such read is itself
  recorded (`audit.walled_matter_viewed`, history/compliance.py);
- a deleted comment's text: shown as deleted, kept for compliance officers.
Hidden names (`task.moved`, `task.viewed`) are left out of histories,
feeds and calendars; only audit shows them, or a request naming them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404

from events_app import envelope, names, store
from events_app.history import compliance
from events_app.names import CalendarFilter
from events_app.seals import chain
from events_app.seals.proofs import SealProofs
from tasks_app import selectors as task_selectors
from tasks_app.models import Comment, Matter, User

HIDDEN = sorted(names.HIDDEN_FROM_FEEDS)
HISTORY_TYPES = ("task", "comment", "milestone")
MAX_PAGE = 200
EXPORT_PAGE = 500


@dataclass(frozen=True)
class EntityRef:
    """What a history is about, and (for comments) the task it belongs to."""

    type: str
    id: int
    parent: tuple[str, int] | None = None


# --- who -------------------------------------------------------------------------


def firm_of(user: User) -> str:
    """The viewer's tenant key (`f_<id>`); 404 for a user with no firm."""
    firm_id = task_selectors.user_firm_id(user)
    if firm_id is None:
        raise Http404("No firm.")
    return envelope.firm_key(firm_id)


def can_audit(user: User) -> bool:
    """Firm admins, compliance officers, and staff users who belong to a firm."""
    membership = task_selectors.membership_for(user)
    return bool(
        membership
        and user.is_active
        and (
            membership.is_firm_admin
            or membership.is_compliance_officer
            or user.is_staff
        )
    )


def is_compliance_officer(user: User) -> bool:
    membership = task_selectors.membership_for(user)
    return bool(membership and membership.is_compliance_officer)


def require_auditor(user: User) -> str:
    """The auditor's firm key; PermissionDenied for anyone else."""
    if not can_audit(user):
        raise PermissionDenied(
            "Only firm admins and compliance officers can see the audit log."
        )
    return firm_of(user)


def walled_outside(viewer: User) -> set[int]:
    """The walled matters the viewer is outside of (they do not exist for them)."""
    return task_selectors.walled_matter_ids_outside(user=viewer)


def audit_exclusions(viewer: User) -> set[int]:
    """What audit leaves out: walled matters outside, unless compliance."""
    return set() if is_compliance_officer(viewer) else walled_outside(viewer)


def deleted_comment_ids(events: list[dict[str, Any]]) -> set[int]:
    """Comments among these events' subjects that are deleted (or gone)."""
    ids = {
        e["subject"]["id"]
        for e in events
        if (e.get("subject") or {}).get("type") == "comment"
        and isinstance(e["subject"].get("id"), int)
    }
    if not ids:
        return set()
    live = set(
        Comment.objects.filter(pk__in=ids, is_deleted=False).values_list(
            "pk", flat=True
        )
    )
    return ids - live


def redact(viewer: User, page: store.Page) -> store.Page:
    """The page with deleted comments' text removed, unless for compliance.

    A deleted comment reads as deleted to people; its words stay in the
    record for compliance officers.
    """
    if is_compliance_officer(viewer):
        return page
    gone = deleted_comment_ids(page.items)
    if not gone:
        return page
    items = []
    for event in page.items:
        subject = event.get("subject") or {}
        if subject.get("type") == "comment" and subject.get("id") in gone:
            changes = dict(event.get("changes") or {})
            if "body" in changes:
                changes["body"] = [None, None]
            event = {
                **event,
                "subject": {**subject, "label": "comment deleted"},
                "changes": changes,
                "redacted": True,
            }
        items.append(event)
    return store.Page(items, page.next_cursor)


def activity_subject(*, viewer: User, user_id: int) -> User:
    """The person whose activity `viewer` asks for: 404 outside the firm,
    403 for a colleague the viewer may not watch (only admins may)."""
    firm_id = task_selectors.user_firm_id(viewer)
    subject = (
        User.objects.select_related("membership", "membership__firm")
        .filter(pk=user_id, membership__firm_id=firm_id)
        .first()
        if firm_id is not None
        else None
    )
    if subject is None:
        raise Http404("No such person.")
    if not task_selectors.user_can_view_activity_of(viewer=viewer, subject=subject):
        raise PermissionDenied("Only firm admins can see other people's activity.")
    return subject


def firm_people(*, viewer: User) -> list[User]:
    firm_id = task_selectors.user_firm_id(viewer)
    if firm_id is None:
        return []
    return list(
        User.objects.filter(membership__firm_id=firm_id).order_by(
            "first_name", "last_name", "username"
        )
    )


def firm_matters(*, viewer: User) -> list[Matter]:
    """The matters an auditor may search: the firm's, less walls outside
    (compliance officers: all of them)."""
    firm_id = task_selectors.user_firm_id(viewer)
    return list(
        Matter.objects.filter(firm_id=firm_id)
        .exclude(pk__in=audit_exclusions(viewer))
        .order_by("number")
    )


# --- histories and feeds ---------------------------------------------------------


def _limit(limit: int) -> int:
    return max(1, min(int(limit), MAX_PAGE))


def task_history(
    *, viewer: User, task_id: int, cursor: str | None = None, limit: int = 50
) -> store.Page:
    """A visible task's events and its comments', newest first (404 otherwise)."""
    task = task_selectors.task_get_for_user(user=viewer, task_id=task_id)
    page = store.query_entity_history(
        firm=envelope.firm_key(task.matter.firm_id),
        subject_type="task",
        subject_id=task.pk,
        exclude_names=HIDDEN,
        limit=_limit(limit),
        cursor=cursor,
    )
    return redact(viewer, page)


def comment_history(
    *, viewer: User, comment_id: int, cursor: str | None = None, limit: int = 50
) -> store.Page:
    """A comment's events (deleted comments too), if its task is visible."""
    comment = (
        Comment.objects.filter(pk=comment_id)
        .select_related("task__matter")
        .only("pk", "task_id", "task__matter__firm_id")
        .first()
    )
    if comment is None:
        raise Http404("No such comment.")
    try:
        task_selectors.task_get_for_user(user=viewer, task_id=comment.task_id)
    except Http404 as exc:
        # Hidden reads exactly as missing.
        raise Http404("No such comment.") from exc
    page = store.query_entity_history(
        firm=envelope.firm_key(comment.task.matter.firm_id),
        subject_type="comment",
        subject_id=comment.pk,
        parent=("task", comment.task_id),
        exclude_names=HIDDEN,
        limit=_limit(limit),
        cursor=cursor,
    )
    return redact(viewer, page)


def milestone_history(
    *, viewer: User, milestone_id: int, cursor: str | None = None, limit: int = 50
) -> store.Page:
    milestone = task_selectors.milestone_get_for_user(
        user=viewer, milestone_id=milestone_id
    )
    return store.query_entity_history(
        firm=envelope.firm_key(milestone.matter.firm_id),
        subject_type="milestone",
        subject_id=milestone.pk,
        limit=_limit(limit),
        cursor=cursor,
    )


def matter_feed(
    *, viewer: User, matter_id: int, cursor: str | None = None, limit: int = 50
) -> tuple[Matter, store.Page]:
    matter = task_selectors.matter_get_for_user(user=viewer, matter_id=matter_id)
    page = store.query_matter_feed(
        firm=envelope.firm_key(matter.firm_id),
        matter_id=matter.pk,
        exclude_names=HIDDEN,
        limit=_limit(limit),
        cursor=cursor,
    )
    return matter, redact(viewer, page)


def audit_history(
    *,
    viewer: User,
    ref: EntityRef,
    cursor: str | None = None,
    limit: int = 50,
    include_hidden: bool = True,
) -> store.Page:
    """Any entity's history for an auditor, deleted or walled (404 if none).

    By default every name is shown, page views and reorders included: the
    audit view is the record.
    """
    firm = require_auditor(viewer)
    if ref.type not in HISTORY_TYPES:
        raise Http404("No history of that kind.")
    page = store.query_entity_history(
        firm=firm,
        subject_type=ref.type,
        subject_id=ref.id,
        parent=ref.parent,
        exclude_names=None if include_hidden else HIDDEN,
        limit=_limit(limit),
        cursor=cursor,
        exclude_matters=audit_exclusions(viewer),
    )
    if not page.items and not cursor:
        raise Http404("No events for that.")
    compliance.record_reads(viewer, page.items, "an audit history")
    return redact(viewer, page)


def comment_parent(*, viewer: User, comment_id: int) -> tuple[str, int] | None:
    """The task of a comment of the auditor's firm, if the row still exists."""
    firm_id = task_selectors.user_firm_id(viewer)
    task_id = (
        Comment.objects.filter(pk=comment_id, task__matter__firm_id=firm_id)
        .values_list("task_id", flat=True)
        .first()
    )
    return ("task", task_id) if task_id else None


def history_url_kwargs(event: dict[str, Any]) -> dict[str, Any] | None:
    """Where an event's entity history lives: {"type", "id", "parent"}."""
    subject = event.get("subject") or {}
    if subject.get("type") not in HISTORY_TYPES or subject.get("id") is None:
        return None
    parent = event.get("parent") or {}
    return {
        "type": subject["type"],
        "id": subject["id"],
        "parent": parent.get("id") if parent.get("type") == "task" else None,
    }


# --- a person's events and counts ------------------------------------------------


def _name_filters(
    names_: Collection[str] | None, name_prefix: str | None
) -> dict[str, Any]:
    """Hidden names only when asked for by name."""
    excluded = [n for n in HIDDEN if names_ is None or n not in names_]
    return {"names": names_, "name_prefix": name_prefix, "exclude_names": excluded}


def user_events(
    *,
    viewer: User,
    subject: User,
    start: dt.datetime,
    end: dt.datetime,
    names_: Collection[str] | None = None,
    name_prefix: str | None = None,
    cursor: str | None = None,
    limit: int = 100,
) -> store.Page:
    """`subject`'s events (as actor) in [start, end), newest first.

    `subject` comes from `activity_subject`, which has checked the viewer.
    """
    page = store.query_user_events(
        firm=firm_of(viewer),
        user_id=subject.pk,
        start=start,
        end=end,
        limit=_limit(limit),
        cursor=cursor,
        exclude_matters=walled_outside(viewer),
        **_name_filters(names_, name_prefix),
    )
    return redact(viewer, page)


def daily_counts(
    *,
    viewer: User,
    subject: User,
    start_date: dt.date,
    end_date: dt.date,
    tz: str,
    names_: Collection[str] | None = None,
    name_prefix: str | None = None,
) -> dict[str, int]:
    """`subject`'s events per local day of `tz`, from the counters."""
    return store.daily_counts(
        firm=firm_of(viewer),
        user_id=subject.pk,
        start_date=start_date,
        end_date=end_date,
        tz=tz,
        **_name_filters(names_, name_prefix),
    )


def calendar_counts(
    *,
    viewer: User,
    subject: User,
    start_date: dt.date,
    end_date: dt.date,
    tz: str,
    calendar_filter: CalendarFilter,
) -> dict[str, int]:
    """The counts one calendar draws: one Query of the filter's own series."""
    return store.daily_counts(
        firm=firm_of(viewer),
        user_id=subject.pk,
        start_date=start_date,
        end_date=end_date,
        tz=tz,
        calendar_filter=calendar_filter.key,
    )


# --- a matter's calendar ---------------------------------------------------------

# A day's drill-down lists at most this many events (a day of a busy matter
# has dozens); the page says when there are more.
DAY_EVENTS_LIMIT = 100


def calendar_matter(*, viewer: User, matter_id: int) -> Matter:
    """The matter whose calendar `viewer` asks for: 404 outside its firm or
    wall, as the board."""
    return task_selectors.matter_get_for_user(user=viewer, matter_id=matter_id)


def matter_calendar_counts(
    *,
    matter: Matter,
    start_date: dt.date,
    end_date: dt.date,
    tz: str,
    calendar_filter: CalendarFilter,
) -> dict[str, int]:
    """The counts a matter's calendar draws: one Query of the filter's series.

    `matter` comes from `calendar_matter`, which has checked the viewer.
    """
    return store.matter_daily_counts(
        firm=envelope.firm_key(matter.firm_id),
        matter_id=matter.pk,
        start_date=start_date,
        end_date=end_date,
        tz=tz,
        calendar_filter=calendar_filter.key,
    )


def _filter_query(
    calendar_filter: CalendarFilter, *, also_excluded: Collection[str] = ()
) -> dict[str, Any]:
    """A filter's names as query arguments: what its counters count."""
    kwargs = calendar_filter.store_kwargs()
    excluded = set(kwargs["exclude_names"] or ()) | set(also_excluded)
    if kwargs["names"] is None:
        excluded |= names.HIDDEN_FROM_FEEDS
    kwargs["exclude_names"] = sorted(excluded) or None
    return kwargs


def matter_day_events(
    *,
    viewer: User,
    matter: Matter,
    start: dt.datetime,
    end: dt.datetime,
    calendar_filter: CalendarFilter,
) -> store.Page:
    """The matter's events in [start, end) that its calendar counts under
    the filter, oldest first: a day's drill-down."""
    page = store.query_matter_feed(
        firm=envelope.firm_key(matter.firm_id),
        matter_id=matter.pk,
        start=start,
        end=end,
        newest_first=False,
        limit=DAY_EVENTS_LIMIT,
        **_filter_query(calendar_filter, also_excluded=names.NOT_COUNTED_ON_MATTER),
    )
    return redact(viewer, page)


def person_day_events(
    *,
    viewer: User,
    subject: User,
    start: dt.datetime,
    end: dt.datetime,
    calendar_filter: CalendarFilter,
) -> store.Page:
    """`subject`'s events in [start, end) under the filter, oldest first,
    without the walled matters the viewer is outside of (the counts are
    everything the person did; the events listed are what the viewer may
    read). `subject` comes from `activity_subject`."""
    page = store.query_user_events(
        firm=firm_of(viewer),
        user_id=subject.pk,
        start=start,
        end=end,
        newest_first=False,
        limit=DAY_EVENTS_LIMIT,
        exclude_matters=walled_outside(viewer),
        **_filter_query(calendar_filter),
    )
    return redact(viewer, page)


# --- audit -----------------------------------------------------------------------


@dataclass(frozen=True)
class AuditQuery:
    """A validated audit selection (see history.forms.AuditForm)."""

    start: dt.datetime
    end: dt.datetime
    user_id: int | str | None = None
    matter_id: int | None = None
    name_prefix: str | None = None

    def store_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "start": self.start,
            "end": self.end,
            "user_id": self.user_id,
            "matter_id": self.matter_id,
        }
        if self.name_prefix in names.ALL:
            # An exact name reads the name index instead of filtering.
            kwargs["names"] = [self.name_prefix]
        else:
            kwargs["name_prefix"] = self.name_prefix
        return kwargs


def audit_events(
    *, viewer: User, query: AuditQuery, cursor: str | None = None, limit: int = 50
) -> store.Page:
    firm = require_auditor(viewer)
    page = store.query_firm_events(
        firm=firm,
        limit=_limit(limit),
        cursor=cursor,
        exclude_matters=audit_exclusions(viewer),
        **query.store_kwargs(),
    )
    compliance.record_reads(viewer, page.items, "the audit search")
    return redact(viewer, page)


def audit_export(*, viewer: User, query: AuditQuery) -> Iterator[dict[str, Any]]:
    """Every event of the selection, a store page at a time (bounded memory)."""
    firm = require_auditor(viewer)
    pages = store.iter_pages(
        store.query_firm_events,
        firm=firm,
        page_size=EXPORT_PAGE,
        exclude_matters=audit_exclusions(viewer),
        **query.store_kwargs(),
    )
    events = (event for page in pages for event in redact(viewer, page).items)
    return compliance.recorded_stream(viewer, events, "an audit export")


def audit_proofs(*, viewer: User, query: AuditQuery) -> SealProofs:
    """Inclusion proofs for the events of an audit export (same firm, same
    range); only ever asked about the events the export includes."""
    firm = require_auditor(viewer)
    return SealProofs(firm=firm, start=query.start, end=query.end)


def audit_seals(
    *, viewer: User, cursor: str | None = None, limit: int = 50
) -> store.SealPage:
    """A page of the auditor's firm's seals, newest first."""
    firm = require_auditor(viewer)
    return store.seal_page(firm=firm, limit=_limit(limit), cursor=cursor)


def audit_seal_chain(*, viewer: User) -> list[dict[str, Any]]:
    """Every seal of the auditor's firm, oldest first, as handed to others."""
    firm = require_auditor(viewer)
    return [chain.record(s.body, s.hash) for s in store.seals_between(firm=firm)]
