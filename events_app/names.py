"""Every event name, and every named set of them: the rules of who sees what.

Which names are stored for a while only, counted by the calendar, hidden
from feeds, notified, shown live on boards and calendars, and offered as
calendar filters: each rule is a set here, and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

TASK_CREATED = "task.created"
TASK_UPDATED = "task.updated"
TASK_STARTED = "task.started"
TASK_COMPLETED = "task.completed"
TASK_REOPENED = "task.reopened"
TASK_STATUS_CHANGED = "task.status_changed"
TASK_ASSIGNED = "task.assigned"
TASK_UNASSIGNED = "task.unassigned"
TASK_MOVED = "task.moved"
TASK_MILESTONE_CHANGED = "task.milestone_changed"
TASK_DELETED = "task.deleted"
TASK_VIEWED = "task.viewed"
# Review: asked for when the work moves to In review with a reviewer (a
# field change, from the diff); approving and returning are acts (services).
TASK_REVIEW_REQUESTED = "task.review_requested"
TASK_APPROVED = "task.approved"
TASK_CHANGES_REQUESTED = "task.changes_requested"
# Reminders: the system's, by the scheduled job (actor `system`).
TASK_DUE_SOON = "task.due_soon"
TASK_OVERDUE = "task.overdue"

COMMENT_ADDED = "comment.added"
COMMENT_EDITED = "comment.edited"
COMMENT_DELETED = "comment.deleted"

MILESTONE_CREATED = "milestone.created"
MILESTONE_UPDATED = "milestone.updated"
MILESTONE_PROGRESS_CHANGED = "milestone.progress_changed"
MILESTONE_COMPLETED = "milestone.completed"
MILESTONE_DELETED = "milestone.deleted"

MATTER_CREATED = "matter.created"
MATTER_UPDATED = "matter.updated"
MATTER_CLOSED = "matter.closed"
MATTER_REOPENED = "matter.reopened"
MATTER_DELETED = "matter.deleted"
MATTER_WALL_CHANGED = "matter.wall_changed"
MATTER_MEMBER_ADDED = "matter.member_added"
MATTER_MEMBER_REMOVED = "matter.member_removed"
MATTER_MEMBER_ROLE_CHANGED = "matter.member_role_changed"
ROADMAP_APPLIED = "roadmap.applied"

USER_LOGGED_IN = "user.logged_in"
USER_LOGGED_OUT = "user.logged_out"
USER_LOGIN_FAILED = "user.login_failed"
USER_ADDED = "user.added"
USER_ROLE_CHANGED = "user.role_changed"
USER_REMOVED = "user.removed"
USER_DEACTIVATED = "user.deactivated"
USER_REACTIVATED = "user.reactivated"
# Someone's open tasks handed to others (they left, or left a matter's team).
USER_TASKS_HANDED_OVER = "user.tasks_handed_over"

# A compliance officer read the record of a walled matter they are outside of.
AUDIT_WALLED_MATTER_VIEWED = "audit.walled_matter_viewed"

# A firm admin's changes to the firm's webhook endpoints (an audit trail of
# where the firm's events are sent), and the system turning one off.
WEBHOOK_ENDPOINT_CREATED = "webhook.endpoint_created"
WEBHOOK_ENDPOINT_UPDATED = "webhook.endpoint_updated"
WEBHOOK_ENDPOINT_DELETED = "webhook.endpoint_deleted"
WEBHOOK_SECRET_ROTATED = "webhook.secret_rotated"  # noqa: S105 (a name)
WEBHOOK_ENDPOINT_DISABLED = "webhook.endpoint_disabled"
# Sent to one endpoint by its "Send test event" button; never recorded.
WEBHOOK_TEST = "webhook.test"

ALL = frozenset(
    value
    for key, value in dict(globals()).items()
    if key.isupper() and isinstance(value, str) and "." in value
)

# The envelope's current version; bump when its shape changes.
ENVELOPE_VERSION = 1


def family(name: str) -> str:
    """`task.completed` -> `task`."""
    return name.split(".", 1)[0]


# Names that are sent but never recorded, so never stored, counted or shown.
NEVER_RECORDED = frozenset({WEBHOOK_TEST})

# --- storing and counting ---------------------------------------------------------

# Kept only for a while (DynamoDB TTL, TASK_VIEWED_RETENTION_DAYS), and so
# never counted: counters must stay rebuildable from the events that remain.
EXPIRING = frozenset({TASK_VIEWED})


def is_counted(name: str) -> bool:
    """Whether events of this name feed a person's activity counters."""
    return name not in EXPIRING


# A matter's events its calendar does not count: the clock's reminders and
# the milestone progress that follows a task's completion (the completion
# counts), and a compliance officer's read of the record (a read is not work
# on the matter, as a page view is not).
NOT_COUNTED_ON_MATTER = frozenset(
    {
        TASK_DUE_SOON,
        TASK_OVERDUE,
        MILESTONE_PROGRESS_CHANGED,
        AUDIT_WALLED_MATTER_VIEWED,
    }
)


def is_counted_on_matter(name: str) -> bool:
    """Whether an event of this name, on a matter, feeds the matter's counters."""
    return is_counted(name) and name not in NOT_COUNTED_ON_MATTER


# Stored, but left out of histories, feeds and calendars unless asked for by
# name: a rank change or a page view is not work done. Audit shows them.
HIDDEN_FROM_FEEDS = frozenset({TASK_MOVED, TASK_VIEWED})

# Families whose events belong to a matter (its feed, its "last activity").
MATTER_FAMILIES = ("task", "comment", "milestone", "matter", "audit", "roadmap")

STATUS_CHANGES = frozenset(
    {TASK_STARTED, TASK_COMPLETED, TASK_REOPENED, TASK_STATUS_CHANGED}
)

# --- who hears about what ------------------------------------------------------------

# The `context.reason` of tasks handed on together: their assignees hear of
# it once, from the `user.tasks_handed_over` event, not once per task.
HANDOVER_REASON = "handover"
# The `context.reason` of a completion that is a reviewer's approval: the
# assignee hears of the approval, not of the completion as well.
APPROVAL_REASON = "approved in review"

# Notified to people (reactions/ say to whom).
ASSIGNMENT_NOTIFIED = frozenset({TASK_CREATED, TASK_ASSIGNED, TASK_UNASSIGNED})
COMMENT_NOTIFIED = frozenset({COMMENT_ADDED})
REVIEW_NOTIFIED = frozenset(
    {TASK_REVIEW_REQUESTED, TASK_APPROVED, TASK_CHANGES_REQUESTED}
)
COMPLETION_NOTIFIED = frozenset({TASK_COMPLETED})
REMINDERS = frozenset({TASK_DUE_SOON, TASK_OVERDUE})
NOTIFIED = (
    ASSIGNMENT_NOTIFIED
    | COMMENT_NOTIFIED
    | REVIEW_NOTIFIED
    | COMPLETION_NOTIFIED
    | REMINDERS
    | {USER_TASKS_HANDED_OVER, AUDIT_WALLED_MATTER_VIEWED}
)

# Someone joined or left a team: their open pages list their matters again.
TEAM_CHANGES = frozenset({MATTER_MEMBER_ADDED, MATTER_MEMBER_REMOVED})

# Shown live on a matter's open boards: every task event moves, adds,
# changes or removes a card, except a page view.
LIVE_ON_BOARD = frozenset(
    name for name in ALL if family(name) == "task" and name != TASK_VIEWED
)

# Events that can change how many of a milestone's tasks are done.
MILESTONE_PROGRESS_INPUTS = frozenset(
    {TASK_COMPLETED, TASK_REOPENED, TASK_MILESTONE_CHANGED, TASK_CREATED, TASK_DELETED}
)

# Shown live on the actor's open calendars: counted, not a rank change, and
# done by a person (milestone progress and failed logins are the system's).
LIVE_ON_CALENDAR = frozenset(
    name
    for name in ALL - HIDDEN_FROM_FEEDS - NEVER_RECORDED
    if is_counted(name)
    and name
    not in {
        MILESTONE_PROGRESS_CHANGED,
        MILESTONE_COMPLETED,
        USER_LOGIN_FAILED,
        WEBHOOK_ENDPOINT_DISABLED,
    }
)

# Shown live on a matter's open calendars: what its calendar counts, less
# what feeds hide (a rank change). The system's counted events (a milestone
# completed) are shown too: the calendar is the matter's, not a person's.
LIVE_ON_MATTER_CALENDAR = frozenset(
    name
    for name in ALL - HIDDEN_FROM_FEEDS - NEVER_RECORDED
    if is_counted_on_matter(name) and family(name) in MATTER_FAMILIES
)

# The system's own event that firm admins are told about.
ADMINS_NOTIFIED = frozenset({WEBHOOK_ENDPOINT_DISABLED})


# --- calendar filters ------------------------------------------------------------


@dataclass(frozen=True)
class CalendarFilter:
    """One of the calendar's filters, as the store's name arguments."""

    key: str
    label: str
    names: tuple[str, ...] | None = None
    name_prefix: str | None = None
    exclude_names: tuple[str, ...] = ()

    def store_kwargs(self) -> dict[str, Any]:
        return {
            "names": list(self.names) if self.names is not None else None,
            "name_prefix": self.name_prefix,
            "exclude_names": list(self.exclude_names) or None,
        }

    def matches(self, name: str) -> bool:
        """Whether an event of this name counts under the filter."""
        if name in HIDDEN_FROM_FEEDS and (self.names is None or name not in self.names):
            return False
        if self.names is not None and name not in self.names:
            return False
        if self.name_prefix and not name.startswith(self.name_prefix):
            return False
        return name not in self.exclude_names

    def as_json(self) -> dict[str, Any]:
        """The same rule for the page's script, which hears live events."""
        return {
            "key": self.key,
            "names": list(self.names) if self.names is not None else None,
            "prefix": self.name_prefix or "",
            "exclude": sorted(set(self.exclude_names) | HIDDEN_FROM_FEEDS),
        }


# Offered on every calendar. A rank change is not work done; page views are
# never counted by the store.
CALENDAR_FILTERS: dict[str, CalendarFilter] = {
    f.key: f
    for f in (
        CalendarFilter("all", "All events", exclude_names=(TASK_MOVED,)),
        CalendarFilter(
            "tasks", "Tasks", name_prefix="task.", exclude_names=(TASK_MOVED,)
        ),
        CalendarFilter(
            "progress", "Completed and started", names=(TASK_COMPLETED, TASK_STARTED)
        ),
        CalendarFilter("comments", "Comments", name_prefix="comment."),
        CalendarFilter("logins", "Logins", names=(USER_LOGGED_IN,)),
    )
}
DEFAULT_CALENDAR_FILTER = "all"

# A matter's calendar offers the filters that can match one of its events
# (logins belong to no matter).
MATTER_CALENDAR_FILTERS: dict[str, CalendarFilter] = {
    key: f
    for key, f in CALENDAR_FILTERS.items()
    if any(
        f.matches(name) and is_counted_on_matter(name)
        for name in ALL
        if family(name) in MATTER_FAMILIES
    )
}
