"""Review: a junior does the work, a senior reviews it.

A task's reviewer is one of its matter's team. Moving the task to In review
asks for their review (`task.review_requested`, from the diff). The reviewer
approves it (`task.approved`, and the task is Done) or returns it with a
comment saying what to change (`task.changes_requested`, the comment, and
the task back In progress). Approving and returning are acts, so their
events are recorded here; the status changes they cause are captured as
always and name the act as their cause.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from events_app import names
from events_app.capture.records import record
from events_app.text import excerpt
from tasks_app.models import Task, User
from tasks_app.services.comments import comment_create
from tasks_app.services.common import consequence, lock_task
from tasks_app.services.tasks import task_update

CHANGES_EXCERPT = 280


def _lock_for_review(actor: User, task_id: int) -> Task:
    task = lock_task(actor=actor, task_id=task_id)
    if task.status != Task.Status.IN_REVIEW:
        raise ValidationError("This task is not waiting for review.")
    if task.reviewer_id != actor.pk:
        raise PermissionDenied("Only the task's reviewer can do that.")
    return task


def _act(actor: User, task: Task, name: str, changes: dict) -> dict:
    matter = task.matter
    return record(
        name=name,
        firm_id=matter.firm_id,
        actor={"id": actor.pk, "name": actor.display_name},
        subject={"type": "task", "id": task.pk, "label": task.title},
        matter={"id": matter.pk, "label": matter.label},
        changes=changes,
    )


@transaction.atomic
def task_approve(*, actor: User, task_id: int) -> Task:
    """The reviewer approves the work: the task is Done."""
    task = _lock_for_review(actor, task_id)
    approved = _act(actor, task, names.TASK_APPROVED, {})
    with consequence(actor, caused_by=approved["id"], reason=names.APPROVAL_REASON):
        return task_update(actor=actor, task_id=task.pk, status=Task.Status.DONE)


@transaction.atomic
def task_request_changes(*, actor: User, task_id: int, comment: str) -> Task:
    """The reviewer returns the work with what to change: back In progress."""
    task = _lock_for_review(actor, task_id)
    if not (comment or "").strip():
        raise ValidationError({"comment": "Say what needs to change."})
    returned = _act(
        actor,
        task,
        names.TASK_CHANGES_REQUESTED,
        {"comment": [None, excerpt(comment, CHANGES_EXCERPT)]},
    )
    with consequence(actor, caused_by=returned["id"], reason="returned in review"):
        comment_create(actor=actor, task_id=task.pk, body=comment)
        return task_update(actor=actor, task_id=task.pk, status=Task.Status.IN_PROGRESS)
