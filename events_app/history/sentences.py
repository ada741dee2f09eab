"""Stored events as readable sentences: who did what to which, and when.

"Bob moved “My task” from In progress to Done · 29 Mar 2023, 17:31". Each
event also lists the fields it changed, old -> new, with a word diff for
long text. Everything comes from the envelope (ids and labels), never from
live rows, so deleted tasks and former users read the same as ever.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import re
import zoneinfo
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from events_app import envelope, names
from events_app.text import actor_name, excerpt, quoted

FIELD_LABELS = {
    "title": "Title",
    "description": "Description",
    "status": "Status",
    "priority": "Priority",
    "assignee": "Assignee",
    "due_date": "Due date",
    "milestone": "Milestone",
    "body": "Comment",
    "name": "Name",
    "progress": "Progress",
    "username": "Username",
    "number": "Number",
    "client_name": "Client",
    "role": "Role",
}
# Placement and bookkeeping: shown by the sentence itself, or not at all.
HIDDEN_FIELDS = frozenset({"rank", "is_deleted", "matter", "task", "author"})
# Text longer than this (or with a line break) is shown as a word diff.
LONG_TEXT = 60
# Unchanged words kept on each side of a change in a word diff.
DIFF_CONTEXT = 6
# A comment's text shown under "commented on".
QUOTE_LENGTH = 280

# Kept here rather than read from tasks_app.models: a label must read the
# same for events stored long ago, whatever the model's choices become.
STATUS_LABELS = {
    "TODO": "To do",
    "IN_PROGRESS": "In progress",
    "IN_REVIEW": "In review",
    "DONE": "Done",
}
PRIORITY_LABELS = {"LOW": "Low", "NORMAL": "Normal", "HIGH": "High", "URGENT": "Urgent"}
ROLE_LABELS = {
    # On a matter's team.
    "RESPONSIBLE_PARTNER": "responsible partner",
    "REVIEWER": "reviewer",
    # In the firm (and the same words on a team).
    "PARTNER": "partner",
    "ASSOCIATE": "associate",
    "PARALEGAL": "paralegal",
    "FIRM_ADMIN": "firm admin",
    "COMPLIANCE": "compliance officer",
}

STATUS_EVENTS = names.STATUS_CHANGES
# The fields an event's sentence already tells; its details show the rest.
_TOLD = {
    names.TASK_CREATED: {"title"},
    names.TASK_UPDATED: {"status", "assignee", "milestone"},
    names.TASK_ASSIGNED: None,
    names.TASK_UNASSIGNED: None,
    names.TASK_MILESTONE_CHANGED: None,
    names.TASK_MOVED: None,
    names.TASK_DELETED: None,
    names.TASK_VIEWED: None,
    names.COMMENT_DELETED: None,
    names.MILESTONE_CREATED: {"name"},
    names.MILESTONE_PROGRESS_CHANGED: None,
    names.MILESTONE_COMPLETED: None,
    names.MILESTONE_DELETED: None,
    names.USER_LOGIN_FAILED: None,
    names.MATTER_CREATED: {"number", "name"},
    names.MATTER_CLOSED: None,
    names.MATTER_REOPENED: None,
    names.MATTER_WALL_CHANGED: None,
    names.MATTER_MEMBER_ADDED: None,
    names.MATTER_MEMBER_REMOVED: None,
    names.MATTER_MEMBER_ROLE_CHANGED: None,
    names.USER_ADDED: None,
    names.USER_ROLE_CHANGED: None,
    names.USER_REMOVED: None,
    names.USER_DEACTIVATED: None,
    names.USER_REACTIVATED: None,
    names.USER_TASKS_HANDED_OVER: None,
    names.AUDIT_WALLED_MATTER_VIEWED: None,
    names.TASK_REVIEW_REQUESTED: None,
    names.TASK_APPROVED: None,
    names.TASK_CHANGES_REQUESTED: None,
    names.TASK_DUE_SOON: None,
    names.TASK_OVERDUE: None,
    names.ROADMAP_APPLIED: None,
    **dict.fromkeys(STATUS_EVENTS),
}


@dataclass(frozen=True)
class DiffPart:
    """One run of a word diff: `same`, `removed` or `added` text."""

    kind: str
    text: str


@dataclass(frozen=True)
class Change:
    """One changed field, ready to show: label, old and new, or a word diff."""

    field: str
    label: str
    before: str
    after: str
    diff: list[DiffPart] | None = None
    # A comment's text when it is the content, not a change (comment.added).
    quote: str | None = None
    # A value set at creation: there is no "before" to show.
    initial: bool = False


@dataclass(frozen=True)
class Sentence:
    event: dict[str, Any]
    text: str
    when: dt.datetime
    changes: list[Change] = field(default_factory=list)

    @property
    def when_text(self) -> str:
        return format_when(self.when)

    @property
    def full(self) -> str:
        """The sentence with its time: what a history row reads as."""
        return f"{self.text} · {self.when_text}"

    @property
    def id(self) -> str:
        return self.event["id"]

    @property
    def name(self) -> str:
        return self.event["name"]


# --- values ---------------------------------------------------------------------


def format_when(moment: dt.datetime) -> str:
    """`29 Mar 2023, 17:31` (in the moment's own timezone)."""
    return f"{moment.day} {moment:%b %Y, %H:%M}"


def format_date(value: str) -> str:
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        return value
    return f"{day.day} {day:%b %Y}"


def show_value(field_name: str, value: Any) -> str:
    """A field's stored value as a person reads it; "none" for empty."""
    if value is None or value == "":
        return "none"
    if isinstance(value, dict):
        return str(value.get("name") or value.get("label") or value.get("id"))
    if field_name == "status":
        return STATUS_LABELS.get(value, str(value))
    if field_name == "priority":
        return PRIORITY_LABELS.get(value, str(value))
    if field_name == "role":
        return ROLE_LABELS.get(value, str(value))
    if field_name == "progress":
        return f"{value}%"
    if field_name.endswith("date") and isinstance(value, str):
        return format_date(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def field_label(field_name: str) -> str:
    return FIELD_LABELS.get(field_name, field_name.replace("_", " ").capitalize())


def is_long(*texts: Any) -> bool:
    return any(isinstance(t, str) and (len(t) > LONG_TEXT or "\n" in t) for t in texts)


_TOKEN_RE = re.compile(r"\s+|[^\s]+")


def word_diff(before: str, after: str, context: int = DIFF_CONTEXT) -> list[DiffPart]:
    """Words removed and added between two texts, long unchanged runs trimmed.

    Whitespace stays with the words. An unchanged run keeps `context` words
    next to each change and an ellipsis for what it leaves out, so joining
    the `same` and `added` parts of a short text gives `after` back exactly.
    """
    old = _TOKEN_RE.findall(before or "")
    new = _TOKEN_RE.findall(after or "")
    opcodes = difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes()
    keep = 2 * context  # tokens: each word with the space after it
    parts: list[DiffPart] = []
    for index, (op, a1, a2, b1, b2) in enumerate(opcodes):
        if op != "equal":
            if a2 > a1:
                parts.append(DiffPart("removed", "".join(old[a1:a2])))
            if b2 > b1:
                parts.append(DiffPart("added", "".join(new[b1:b2])))
            continue
        same = old[a1:a2]
        first, last = index == 0, index == len(opcodes) - 1
        if first and last:
            text = "".join(same)
        elif first:
            text = ("… " if len(same) > keep else "") + "".join(same[-keep:])
        elif last:
            text = "".join(same[:keep]) + (" …" if len(same) > keep else "")
        elif len(same) > 2 * keep + 2:
            text = "".join(same[:keep]) + " … " + "".join(same[-keep:])
        else:
            text = "".join(same)
        parts.append(DiffPart("same", text))
    return parts


# --- changes --------------------------------------------------------------------


def changes_of(event: dict[str, Any]) -> list[Change]:
    """The fields an event changed that its sentence does not already tell."""
    name = event["name"]
    told = _TOLD.get(name, set())
    if told is None:
        return []
    changes = event.get("changes") or {}
    if event.get("redacted"):
        return [Change("body", "Comment", "", "", quote="(comment deleted)")]
    if name == names.COMMENT_ADDED:
        body = (changes.get("body") or [None, ""])[1] or ""
        return [Change("body", "Comment", "", "", quote=excerpt(body, QUOTE_LENGTH))]
    result = []
    for key in sorted(changes, key=_field_order):
        pair = changes[key]
        if key in HIDDEN_FIELDS or key in told or not isinstance(pair, list | tuple):
            continue
        if len(pair) != 2:
            continue
        before, after = pair
        created = name.endswith(".created") and before is None
        diff = None
        if (
            not created
            and isinstance(before, str)
            and isinstance(after, str)
            and is_long(before, after)
        ):
            diff = word_diff(before, after)
        result.append(
            Change(
                field=key,
                label=field_label(key),
                before=show_value(key, before),
                after=show_value(key, after),
                diff=diff,
                initial=created,
            )
        )
    return result


_ORDER = list(FIELD_LABELS)


def _field_order(key: str) -> tuple[int, str]:
    return (_ORDER.index(key) if key in _ORDER else len(_ORDER), key)


def _and(items: Iterable[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


# --- sentences ------------------------------------------------------------------


def _pair(event: dict[str, Any], key: str) -> tuple[Any, Any]:
    pair = (event.get("changes") or {}).get(key) or (None, None)
    return (pair[0], pair[1]) if len(pair) == 2 else (None, None)


def _task_updated(who: str, label: str, event: dict[str, Any]) -> str:
    changes = event.get("changes") or {}
    shown = [
        k
        for k in sorted(changes, key=_field_order)
        if k not in HIDDEN_FIELDS and k not in _TOLD[names.TASK_UPDATED]
    ]
    if shown == ["title"]:
        before, after = _pair(event, "title")
        return f"{who} renamed {quoted(before)} to {quoted(after)}"
    if not shown:
        return f"{who} changed {label}"
    fields = _and(field_label(k).lower() for k in shown)
    return f"{who} changed the {fields} of {label}"


_STATUS_VERBS = {
    names.TASK_STARTED: "started",
    names.TASK_COMPLETED: "completed",
    names.TASK_REOPENED: "reopened",
    names.TASK_STATUS_CHANGED: "changed the status of",
}


def _status(who: str, label: str, event: dict[str, Any]) -> str:
    before, after = _pair(event, "status")
    if not after:
        return f"{who} {_STATUS_VERBS[event['name']]} {label}"
    return (
        f"{who} moved {label} from {show_value('status', before)} "
        f"to {show_value('status', after)}"
    )


def _assigned(who: str, label: str, event: dict[str, Any]) -> str:
    before, after = _pair(event, "assignee")
    to = show_value("assignee", after)
    if before:
        return f"{who} reassigned {label} from {show_value('assignee', before)} to {to}"
    return f"{who} assigned {label} to {to}"


def _unassigned(who: str, label: str, event: dict[str, Any]) -> str:
    before, _ = _pair(event, "assignee")
    if before:
        return f"{who} unassigned {show_value('assignee', before)} from {label}"
    return f"{who} unassigned {label}"


def _milestone_changed(who: str, label: str, event: dict[str, Any]) -> str:
    before, after = _pair(event, "milestone")
    if before and after:
        return (
            f"{who} moved {label} from milestone "
            f"{quoted(show_value('milestone', before))} "
            f"to {quoted(show_value('milestone', after))}"
        )
    if after:
        return (
            f"{who} put {label} under milestone "
            f"{quoted(show_value('milestone', after))}"
        )
    return f"{who} took {label} off milestone {quoted(show_value('milestone', before))}"


def _progress(who: str, label: str, event: dict[str, Any]) -> str:
    before, after = _pair(event, "progress")
    return (
        f"Milestone {label} went from {show_value('progress', before or 0)} "
        f"to {show_value('progress', after or 0)} done"
    )


def _milestone_updated(who: str, label: str, event: dict[str, Any]) -> str:
    changes = event.get("changes") or {}
    if set(changes) - HIDDEN_FIELDS == {"name"}:
        before, after = _pair(event, "name")
        return f"{who} renamed milestone {quoted(before)} to {quoted(after)}"
    return f"{who} changed milestone {label}"


def _parent_label(event: dict[str, Any]) -> str:
    return quoted((event.get("parent") or {}).get("label"))


def _role(event: dict[str, Any], *, side: int = 1) -> str:
    return show_value("role", _pair(event, "role")[side])


def _person(event: dict[str, Any]) -> str:
    before, after = _pair(event, "user")
    return show_value("user", after or before)


def _wall(who: str, label: str, event: dict[str, Any]) -> str:
    _, walled = _pair(event, "is_restricted")
    if walled:
        return f"{who} put an ethical wall around {label}"
    return f"{who} took down the ethical wall of {label}"


def _handed_over(who: str, label: str, event: dict[str, Any]) -> str:
    _, receivers = _pair(event, "to")
    _, cause = _pair(event, "cause")
    total = sum(r.get("tasks", 0) for r in receivers or [])
    to = _and(f"{r.get('name')} ({r.get('tasks', 0)})" for r in receivers or [])
    tasks = "1 open task" if total == 1 else f"{total} open tasks"
    text = f"{who} handed {tasks} of {label} to {to}"
    return f"{text}: {cause}" if cause else text


def _audited(who: str, label: str, event: dict[str, Any]) -> str:
    _, view = _pair(event, "view")
    return f"{who} (compliance) read the record of {label} in {view or 'audit'}"


def _review_requested(who: str, label: str, event: dict[str, Any]) -> str:
    _, reviewer = _pair(event, "reviewer")
    if reviewer:
        return f"{who} asked {show_value('reviewer', reviewer)} to review {label}"
    return f"{who} asked for a review of {label}"


def _returned(who: str, label: str, event: dict[str, Any]) -> str:
    _, said = _pair(event, "comment")
    return (
        f"{who} returned {label} for changes: {said}"
        if said
        else (f"{who} returned {label} for changes")
    )


def _reminder(who: str, label: str, event: dict[str, Any]) -> str:
    _, recipient = _pair(event, "recipient")
    _, note = _pair(event, "note")
    _, escalated = _pair(event, "escalated")
    to = show_value("recipient", recipient)
    if escalated:
        to += " (responsible partner)"
    return f"Reminder sent to {to}: {label} is {note or 'due'}"


def _roadmap_applied(who: str, label: str, event: dict[str, Any]) -> str:
    _, roadmap = _pair(event, "roadmap")
    _, milestones = _pair(event, "milestones")
    _, tasks = _pair(event, "tasks")
    return (
        f"{who} applied roadmap {quoted(roadmap)} to {label}: "
        f"{milestones or 0} milestones and {tasks or 0} tasks"
    )


_Sentence = Callable[[str, str, dict[str, Any]], str]

_SENTENCES: dict[str, _Sentence] = {
    names.TASK_CREATED: lambda who, label, e: f"{who} created {label}",
    names.TASK_UPDATED: _task_updated,
    **dict.fromkeys(STATUS_EVENTS, _status),
    names.TASK_ASSIGNED: _assigned,
    names.TASK_UNASSIGNED: _unassigned,
    names.TASK_MILESTONE_CHANGED: _milestone_changed,
    names.TASK_MOVED: lambda who, label, e: f"{who} reordered {label}",
    names.TASK_DELETED: lambda who, label, e: f"{who} deleted {label}",
    names.TASK_VIEWED: lambda who, label, e: f"{who} viewed {label}",
    names.COMMENT_ADDED: lambda who, label, e: (
        f"{who} commented on " + _parent_label(e)
    ),
    names.COMMENT_EDITED: lambda who, label, e: (
        f"{who} edited a comment on " + _parent_label(e)
    ),
    names.COMMENT_DELETED: lambda who, label, e: (
        f"{who} deleted a comment on " + _parent_label(e)
    ),
    names.MILESTONE_CREATED: lambda who, label, e: f"{who} created milestone {label}",
    names.MILESTONE_UPDATED: _milestone_updated,
    names.MILESTONE_PROGRESS_CHANGED: _progress,
    names.MILESTONE_COMPLETED: lambda who, label, e: f"Milestone {label} was completed",
    names.MILESTONE_DELETED: lambda who, label, e: f"{who} deleted milestone {label}",
    names.USER_LOGGED_IN: lambda who, label, e: f"{who} logged in",
    names.USER_LOGGED_OUT: lambda who, label, e: f"{who} logged out",
    names.USER_LOGIN_FAILED: lambda who, label, e: f"A login as {label} failed",
    names.MATTER_CREATED: lambda who, label, e: f"{who} opened matter {label}",
    names.MATTER_UPDATED: lambda who, label, e: f"{who} changed matter {label}",
    names.MATTER_CLOSED: lambda who, label, e: f"{who} closed matter {label}",
    names.MATTER_REOPENED: lambda who, label, e: f"{who} reopened matter {label}",
    names.MATTER_DELETED: lambda who, label, e: f"{who} deleted matter {label}",
    names.MATTER_WALL_CHANGED: _wall,
    names.MATTER_MEMBER_ADDED: lambda who, label, e: (
        f"{who} added {_person(e)} to the team of {label} as {_role(e)}"
    ),
    names.MATTER_MEMBER_REMOVED: lambda who, label, e: (
        f"{who} took {_person(e)} off the team of {label}"
    ),
    names.MATTER_MEMBER_ROLE_CHANGED: lambda who, label, e: (
        f"{who} made {_person(e)} {_role(e)} on {label} (was {_role(e, side=0)})"
    ),
    names.USER_ADDED: lambda who, label, e: (
        f"{who} added {label} to the firm as {_role(e)}"
    ),
    names.USER_ROLE_CHANGED: lambda who, label, e: (
        f"{who} made {label} {_role(e)} (was {_role(e, side=0)})"
    ),
    names.USER_REMOVED: lambda who, label, e: f"{who} removed {label} from the firm",
    names.USER_DEACTIVATED: lambda who, label, e: f"{who} deactivated {label}",
    names.USER_REACTIVATED: lambda who, label, e: f"{who} reactivated {label}",
    names.USER_TASKS_HANDED_OVER: _handed_over,
    names.TASK_REVIEW_REQUESTED: _review_requested,
    names.TASK_APPROVED: lambda who, label, e: f"{who} approved {label}",
    names.TASK_CHANGES_REQUESTED: _returned,
    names.TASK_DUE_SOON: _reminder,
    names.TASK_OVERDUE: _reminder,
    names.ROADMAP_APPLIED: _roadmap_applied,
    names.AUDIT_WALLED_MATTER_VIEWED: _audited,
    names.WEBHOOK_ENDPOINT_CREATED: lambda who, label, e: (
        f"{who} added webhook endpoint {label}"
    ),
    names.WEBHOOK_ENDPOINT_UPDATED: lambda who, label, e: (
        f"{who} changed webhook endpoint {label}"
    ),
    names.WEBHOOK_ENDPOINT_DELETED: lambda who, label, e: (
        f"{who} deleted webhook endpoint {label}"
    ),
    names.WEBHOOK_SECRET_ROTATED: lambda who, label, e: (
        f"{who} rotated the signing secret of webhook endpoint {label}"
    ),
    names.WEBHOOK_ENDPOINT_DISABLED: lambda who, label, e: (
        f"Webhook endpoint {label} was turned off"
    ),
}


def sentence_text(event: dict[str, Any]) -> str:
    """The sentence without its time: "Bob moved “My task” from To do to Done"."""
    who = actor_name(event)
    label = quoted((event.get("subject") or {}).get("label"))
    build = _SENTENCES.get(event["name"])
    if build is None:
        return f"{who}: {event['name']} on {label}"
    text = build(who, label, event)
    reason = (event.get("context") or {}).get("reason")
    return f"{text} ({reason})" if reason else text


def describe(event: dict[str, Any], *, tz: str | dt.tzinfo) -> Sentence:
    """An event as a sentence, its time in `tz`, and its changed fields."""
    zone = zoneinfo.ZoneInfo(tz) if isinstance(tz, str) else tz
    when = envelope.parse_instant(event["occurred_at"]).astimezone(zone)
    return Sentence(
        event=event, text=sentence_text(event), when=when, changes=changes_of(event)
    )


def describe_all(
    events: Iterable[dict[str, Any]], *, tz: str | dt.tzinfo
) -> list[Sentence]:
    zone = zoneinfo.ZoneInfo(tz) if isinstance(tz, str) else tz
    return [describe(e, tz=zone) for e in events]
