"""Due-date reminders: the system tells people what is due, once.

The scheduled job (`tasks.due_reminders`, every quarter hour) looks at open
tasks with a due date and an assignee, each in the assignee's own timezone:
due tomorrow gives `task.due_soon`, past due `task.overdue` to the assignee,
and overdue by more than the firm's `overdue_escalation_days` another
`task.overdue` to the matter's responsible partner. Each is recorded at
most once per task, due date and kind (the `ReminderSent` ledger, written
in the same transaction as the event), so reruns, restarts and two
schedulers send nothing twice, and a changed due date reminds again. They
are the system's events (actor `system`): in the task's history, never in
a person's activity calendar. Reactions (reactions/reminders.py) tell the
person.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from events_app import names
from events_app.capture.records import record
from events_app.context import acting_as
from events_app.envelope import SYSTEM_ACTOR
from events_app.models import ReminderSent
from tasks_app.models import MatterMember, Task, User

Kind = ReminderSent.Kind
MAX_UTC_OFFSET = dt.timedelta(hours=14)  # Kiribati's Line Islands


@dataclass
class ReminderRun:
    sent: int = 0
    already: int = 0


def _local_today(user: User, now: dt.datetime) -> dt.date:
    try:
        zone = zoneinfo.ZoneInfo(user.effective_timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = dt.UTC
    return now.astimezone(zone).date()


def _candidates(now: dt.datetime):
    """Open tasks due by the day after tomorrow anywhere on Earth, not yet
    reminded of everything their due date can bring."""
    latest = (now + dt.timedelta(days=2)).date()
    # The furthest-ahead local date on Earth (UTC+14): a task due on it or
    # later is overdue nowhere yet.
    furthest_today = (now + MAX_UTC_OFFSET).date()

    def sent(kind: str) -> Exists:
        return Exists(
            ReminderSent.objects.filter(
                task=OuterRef("pk"), due_date=OuterRef("due_date"), kind=kind
            )
        )

    return (
        Task.objects.filter(
            due_date__isnull=False,
            due_date__lte=latest,
            assignee__isnull=False,
            assignee__is_active=True,
            matter__closed_at__isnull=True,
        )
        .exclude(status=Task.Status.DONE)
        .exclude(sent(Kind.OVERDUE) & sent(Kind.ESCALATED))
        .exclude(Q(due_date__gte=furthest_today) & sent(Kind.DUE_SOON))
        .select_related("assignee__membership__firm", "matter__firm")
        .order_by("pk")
    )


def _partner(task: Task) -> User | None:
    member = (
        MatterMember.objects.filter(
            matter_id=task.matter_id,
            role=MatterMember.Role.RESPONSIBLE_PARTNER,
            user__is_active=True,
        )
        .select_related("user")
        .first()
    )
    return member.user if member else None


def _send(task: Task, kind: str, recipient: User, note: str, days: int) -> bool:
    """Record one reminder and its ledger row together; False if it went out."""
    matter = task.matter
    name = names.TASK_DUE_SOON if kind == Kind.DUE_SOON else names.TASK_OVERDUE
    changes = {
        "recipient": [None, {"id": recipient.pk, "name": recipient.display_name}],
        "due_date": [None, task.due_date.isoformat()],
        "note": [None, note],
    }
    if days:
        changes["days_overdue"] = [None, days]
    if kind == Kind.ESCALATED:
        changes["escalated"] = [None, True]
    try:
        with transaction.atomic():
            event = record(
                name=name,
                firm_id=matter.firm_id,
                actor=dict(SYSTEM_ACTOR),
                subject={"type": "task", "id": task.pk, "label": task.title},
                matter={"id": matter.pk, "label": matter.label},
                changes=changes,
            )
            ReminderSent.objects.create(
                task=task,
                due_date=task.due_date,
                kind=kind,
                recipient=recipient,
                event_id=event["id"],
            )
    except IntegrityError:
        return False  # another run sent this one
    return True


def send_due_reminders(*, now: dt.datetime | None = None) -> ReminderRun:
    """Send every reminder that is due now; safe to run at any time, twice."""
    now = now or timezone.now()
    run = ReminderRun()
    tasks = list(_candidates(now))
    done = set(
        ReminderSent.objects.filter(task__in=tasks).values_list(
            "task_id", "due_date", "kind"
        )
    )
    with acting_as(None, source="system"):
        for task in tasks:
            today = _local_today(task.assignee, now)
            late = (today - task.due_date).days
            wanted: list[tuple[str, User, str]] = []
            if late == -1:
                wanted.append((Kind.DUE_SOON, task.assignee, "due tomorrow"))
            if late > 0:
                wanted.append((Kind.OVERDUE, task.assignee, _overdue(late)))
            if late > task.matter.firm.overdue_escalation_days:
                partner = _partner(task)
                if partner is not None and partner != task.assignee:
                    note = (
                        f"{_overdue(late)} (assigned to {task.assignee.display_name})"
                    )
                    wanted.append((Kind.ESCALATED, partner, note))
            for kind, recipient, note in wanted:
                if (task.pk, task.due_date, kind) in done:
                    continue
                if _send(task, kind, recipient, note, max(late, 0)):
                    run.sent += 1
                else:
                    run.already += 1
    return run


def _overdue(days: int) -> str:
    return "1 day overdue" if days == 1 else f"{days} days overdue"
