"""Which reaction hears which events: every subscription, in dispatch order.

People are notified first. Reactions to a few names subscribe once per name
(`<reaction>:<name>`) rather than to a family (`task.*`), so an event no
reaction cares about (a page view) costs no Celery task.
"""

from __future__ import annotations

from collections.abc import Iterable

from events_app import bus, names
from events_app.reactions.assignment import notify_assignment
from events_app.reactions.comments import notify_comment
from events_app.reactions.completion import notify_completion
from events_app.reactions.compliance import notify_responsible_partner
from events_app.reactions.handover import notify_handover
from events_app.reactions.live import (
    activity_live,
    live_board,
    matter_activity_live,
    team_live,
)
from events_app.reactions.matter_activity import matter_activity
from events_app.reactions.milestones import milestone_progress
from events_app.reactions.reminders import notify_reminder
from events_app.reactions.review import notify_review
from events_app.reactions.watching import auto_watch
from events_app.reactions.webhooks import notify_endpoint_disabled

# Ledger names (HandlerRun.handler) of the assignment notifications, kept
# from before they were read from names.ASSIGNMENT_NOTIFIED.
_ASSIGNMENT_LEDGER = {
    names.TASK_ASSIGNED: "notify_assigned",
    names.TASK_UNASSIGNED: "notify_unassigned",
    names.TASK_CREATED: "notify_assigned_on_create",
}


def _subscribe_each(
    event_names: Iterable[str], name: str, handler: bus.Handler
) -> None:
    for event_name in sorted(event_names):
        bus.subscribe(event_name, name=f"{name}:{event_name}")(handler)


def connect() -> None:
    """Register the reactions; dispatch order is this order (people first)."""
    for family in names.MATTER_FAMILIES:
        bus.subscribe(f"{family}.*", name=f"matter_activity:{family}.*")(
            matter_activity
        )
    for event_name in sorted(names.ASSIGNMENT_NOTIFIED):
        bus.subscribe(event_name, name=_ASSIGNMENT_LEDGER[event_name])(
            notify_assignment
        )
    for event_name in sorted(names.COMMENT_NOTIFIED):
        bus.subscribe(event_name, name="notify_comment")(notify_comment)
    _subscribe_each(names.REVIEW_NOTIFIED, "notify_review", notify_review)
    _subscribe_each(names.COMPLETION_NOTIFIED, "notify_completion", notify_completion)
    _subscribe_each(names.REMINDERS, "notify_reminder", notify_reminder)
    bus.subscribe(names.USER_TASKS_HANDED_OVER, name="notify_handover")(notify_handover)
    bus.subscribe(names.AUDIT_WALLED_MATTER_VIEWED, name="notify_audited")(
        notify_responsible_partner
    )
    _subscribe_each(names.TEAM_CHANGES, "team_live", team_live)
    for event_name in sorted(names.ADMINS_NOTIFIED):
        bus.subscribe(event_name, name="notify_webhook_disabled")(
            notify_endpoint_disabled
        )
    _subscribe_each(names.LIVE_ON_BOARD, "live_board", live_board)
    bus.subscribe(names.TASK_CREATED, name="auto_watch_created")(auto_watch)
    bus.subscribe(names.TASK_ASSIGNED, name="auto_watch_assigned")(auto_watch)
    _subscribe_each(
        names.MILESTONE_PROGRESS_INPUTS, "milestone_progress", milestone_progress
    )
    _subscribe_each(names.LIVE_ON_CALENDAR, "activity_live", activity_live)
    _subscribe_each(
        names.LIVE_ON_MATTER_CALENDAR, "matter_activity_live", matter_activity_live
    )
