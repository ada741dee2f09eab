"""What every service checks: membership, visibility, closed matters, input."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404

from tasks_app import selectors
from tasks_app.models import Comment, Matter, Membership, Milestone, Task, User


def require_member(actor: User) -> Membership:
    membership = selectors.membership_for(actor)
    if membership is None:
        raise PermissionDenied("You are not a member of a firm.")
    return membership


def require_open(matter: Matter) -> None:
    """A closed matter is archived: its record stays, its work is done."""
    if matter.closed_at is not None:
        raise ValidationError("This matter is closed; reopen it to change its work.")


def lock_task(*, actor: User, task_id: int) -> Task:
    task = (
        selectors.task_queryset_for_user(user=actor)
        .select_for_update(of=("self",))
        .select_related("matter")
        .filter(pk=task_id)
        .first()
    )
    if task is None:
        raise Http404("No such task.")
    return task


def check_assignee(*, matter: Matter, assignee: User | None) -> None:
    if assignee is None:
        return
    if (
        not selectors.users_who_can_see_matter(matter=matter)
        .filter(pk=assignee.pk)
        .exists()
    ):
        raise ValidationError(
            {"assignee": f"{assignee.display_name} cannot see this matter."}
        )


def check_milestone(*, matter: Matter, milestone: Milestone | None) -> None:
    if milestone is not None and milestone.matter_id != matter.pk:
        raise ValidationError(
            {"milestone": "That milestone belongs to another matter."}
        )


def check_status(status: str) -> None:
    if status not in Task.Status.values:
        raise ValidationError({"status": f"“{status}” is not a status."})


def check_text_length(model: type[Task | Comment], field: str, value: str) -> None:
    """Enforce a TextField's max_length, which Django leaves to forms only."""
    limit = model._meta.get_field(field).max_length
    if limit and value and len(value) > limit:
        raise ValidationError(
            {field: f"At most {limit:,} characters, not {len(value):,}."}
        )
