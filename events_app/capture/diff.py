"""Old image vs new image -> changes and event names. Pure: no ORM, no I/O.

An image is a dict of a row's fields by field name (foreign keys as ids), or
None for "no row" (before a create, after a delete). Control fields say who
and when; they are never changes themselves. One save gives one event per
meaning, each carrying the full `changes`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from events_app import names

Image = Mapping[str, Any]

CONTROL_FIELDS = frozenset(
    {
        "id",
        "last_modified_by",
        "updated_at",
        "created_at",
        "created_by",
        "edited_at",
        "added_at",
        "joined_at",
        # Derived: kept by a reaction (the latest event's time), not a change.
        "last_activity_at",
        # Derived: the row's words for search, written by a database trigger.
        "search_vector",
    }
)
# Shown in a created event's changes; identity and placement fields are not.
_NOT_DESCRIBED_ON_CREATE = frozenset(
    {"matter", "task", "author", "rank", "is_deleted", "firm"}
)


@dataclass(frozen=True)
class Draft:
    """An event before its envelope: what it is, what changed, who, when."""

    name: str
    changes: dict[str, list[Any]] = field(default_factory=dict)
    actor_id: int | None = None
    occurred_at: dt.datetime | None = None


def changed_fields(
    old: Image, new: Image, *, ignore: frozenset[str] = CONTROL_FIELDS
) -> dict[str, list[Any]]:
    """Fields present in both images whose values differ, as [old, new]."""
    return {
        key: [old[key], new[key]]
        for key in sorted(old.keys() & new.keys())
        if key not in ignore and old[key] != new[key]
    }


def _initial_fields(new: Image) -> dict[str, list[Any]]:
    return {
        key: [None, value]
        for key, value in sorted(new.items())
        if key not in CONTROL_FIELDS
        and key not in _NOT_DESCRIBED_ON_CREATE
        and value not in (None, "")
    }


def _final_fields(old: Image) -> dict[str, list[Any]]:
    return {key: [after, None] for key, (_, after) in _initial_fields(old).items()}


def _who_and_when(image: Image | None) -> tuple[int | None, dt.datetime | None]:
    if not image:
        return None, None
    return image.get("last_modified_by"), image.get("updated_at")


def _drafts(image: Image | None, names_: list[str], changes: dict) -> list[Draft]:
    actor_id, when = _who_and_when(image)
    return [Draft(n, changes, actor_id, when) for n in names_]


def status_event_name(old_status: str, new_status: str) -> str:
    """IN_PROGRESS -> DONE is `task.completed`; see the cases below."""
    if new_status == "DONE":
        return names.TASK_COMPLETED
    if old_status == "DONE":
        return names.TASK_REOPENED
    if old_status == "TODO" and new_status == "IN_PROGRESS":
        return names.TASK_STARTED
    return names.TASK_STATUS_CHANGED


def task_events(old: Image | None, new: Image | None) -> list[Draft]:
    """Events for one save (or delete) of a task."""
    if old is None and new is None:
        return []
    if old is None:
        created = [names.TASK_CREATED]
        if _review_requested({"status": [None, new.get("status")]}, new):
            created.append(names.TASK_REVIEW_REQUESTED)
        return _drafts(new, created, _initial_fields(new))
    if new is None:
        return _drafts(old, [names.TASK_DELETED], _final_fields(old))
    changes = changed_fields(old, new)
    if not changes:
        return []
    found: list[str] = []
    if "status" in changes:
        found.append(status_event_name(*changes["status"]))
    if "assignee" in changes:
        found.append(
            names.TASK_UNASSIGNED
            if changes["assignee"][1] is None
            else names.TASK_ASSIGNED
        )
    if "milestone" in changes:
        found.append(names.TASK_MILESTONE_CHANGED)
    if _review_requested(changes, new):
        found.append(names.TASK_REVIEW_REQUESTED)
    if changes.keys() - {"status", "assignee", "milestone", "rank"}:
        found.append(names.TASK_UPDATED)
    if "rank" in changes and "status" not in changes:
        found.append(names.TASK_MOVED)
    return [_naming_the_reviewer(d, new) for d in _drafts(new, found, changes)]


def _naming_the_reviewer(draft: Draft, new: Image) -> Draft:
    """A review request always says whose review it asks for: an unchanged
    reviewer is carried as [reviewer, reviewer]."""
    if draft.name != names.TASK_REVIEW_REQUESTED or "reviewer" in draft.changes:
        return draft
    reviewer = new.get("reviewer")
    return replace(draft, changes={**draft.changes, "reviewer": [reviewer, reviewer]})


def _review_requested(changes: dict[str, list[Any]], new: Image) -> bool:
    """In review with a reviewer, having just moved there or got that reviewer."""
    return (
        new.get("status") == "IN_REVIEW"
        and bool(new.get("reviewer"))
        and ("status" in changes or "reviewer" in changes)
    )


def comment_events(old: Image | None, new: Image | None) -> list[Draft]:
    """Events for one save (or delete) of a comment; deletion is soft or hard."""
    if old is None and new is None:
        return []
    if old is None:
        if new.get("is_deleted"):
            return []
        return _drafts(new, [names.COMMENT_ADDED], {"body": [None, new.get("body")]})
    if new is None:
        if old.get("is_deleted"):
            return []  # already recorded when it was soft-deleted
        return _drafts(old, [names.COMMENT_DELETED], {"body": [old.get("body"), None]})
    changes = changed_fields(old, new)
    if not changes:
        return []
    if changes.get("is_deleted") == [False, True]:
        return _drafts(new, [names.COMMENT_DELETED], changes)
    return _drafts(new, [names.COMMENT_EDITED], changes)


def milestone_events(old: Image | None, new: Image | None) -> list[Draft]:
    """Events for one save (or delete) of a milestone."""
    if old is None and new is None:
        return []
    if old is None:
        return _drafts(new, [names.MILESTONE_CREATED], _initial_fields(new))
    if new is None:
        return _drafts(old, [names.MILESTONE_DELETED], _final_fields(old))
    changes = changed_fields(old, new)
    if not changes:
        return []
    found: list[str] = []
    if "progress" in changes:
        found.append(names.MILESTONE_PROGRESS_CHANGED)
        before, after = changes["progress"]
        if after == 100 and (before or 0) < 100:
            found.append(names.MILESTONE_COMPLETED)
    if changes.keys() - {"progress"}:
        found.append(names.MILESTONE_UPDATED)
    return _drafts(new, found, changes)


def matter_events(old: Image | None, new: Image | None) -> list[Draft]:
    """Events for one save (or delete) of a matter: its record and its wall."""
    if old is None and new is None:
        return []
    if old is None:
        return _drafts(new, [names.MATTER_CREATED], _initial_fields(new))
    if new is None:
        return _drafts(old, [names.MATTER_DELETED], _final_fields(old))
    changes = changed_fields(old, new)
    if not changes:
        return []
    found: list[str] = []
    if "closed_at" in changes:
        closing = changes["closed_at"][1] is not None
        found.append(names.MATTER_CLOSED if closing else names.MATTER_REOPENED)
    if "is_restricted" in changes:
        found.append(names.MATTER_WALL_CHANGED)
    if changes.keys() - {"closed_at", "is_restricted"}:
        found.append(names.MATTER_UPDATED)
    return _drafts(new, found, changes)


def matter_member_events(old: Image | None, new: Image | None) -> list[Draft]:
    """Events for one change to a matter's team: someone added, removed, or
    given another role. On a walled matter, added and removed also say who
    is inside the wall."""
    if old is None and new is None:
        return []
    if old is None:
        changes = {"user": [None, new.get("user")], "role": [None, new.get("role")]}
        return _drafts(new, [names.MATTER_MEMBER_ADDED], changes)
    if new is None:
        changes = {"user": [old.get("user"), None], "role": [old.get("role"), None]}
        return _drafts(old, [names.MATTER_MEMBER_REMOVED], changes)
    changes = changed_fields(old, new)
    if "role" not in changes:
        return []
    changes["user"] = [new.get("user"), new.get("user")]
    return _drafts(new, [names.MATTER_MEMBER_ROLE_CHANGED], changes)


def membership_events(old: Image | None, new: Image | None) -> list[Draft]:
    """Events for a person's place in a firm: joined, role changed, removed."""
    if old is None and new is None:
        return []
    if old is None:
        changes = {"role": [None, new.get("role")]}
        return _drafts(new, [names.USER_ADDED], changes)
    if new is None:
        changes = {"role": [old.get("role"), None]}
        return _drafts(old, [names.USER_REMOVED], changes)
    changes = changed_fields(old, new)
    if "role" not in changes:
        return []
    return _drafts(new, [names.USER_ROLE_CHANGED], {"role": changes["role"]})
