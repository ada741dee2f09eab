"""Event names, their families, and which of them people see or hear about."""

from __future__ import annotations

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

COMMENT_ADDED = "comment.added"
COMMENT_EDITED = "comment.edited"
COMMENT_DELETED = "comment.deleted"

MILESTONE_CREATED = "milestone.created"
MILESTONE_UPDATED = "milestone.updated"
MILESTONE_PROGRESS_CHANGED = "milestone.progress_changed"
MILESTONE_COMPLETED = "milestone.completed"
MILESTONE_DELETED = "milestone.deleted"

USER_LOGGED_IN = "user.logged_in"
USER_LOGGED_OUT = "user.logged_out"
USER_LOGIN_FAILED = "user.login_failed"

ALL = frozenset(
    value
    for key, value in dict(globals()).items()
    if key.isupper() and isinstance(value, str) and "." in value
)

# Stored, but never notified and hidden from feeds and activity counts shown
# by default: a rank change or a page view is not "work done".
HIDDEN_FROM_FEEDS = frozenset({TASK_MOVED, TASK_VIEWED})

# The envelope's current version; bump when its shape changes.
ENVELOPE_VERSION = 1


def family(name: str) -> str:
    """`task.completed` -> `task`."""
    return name.split(".", 1)[0]
