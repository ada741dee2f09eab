"""What every service checks: membership, visibility, closed matters, input."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404

from events_app.context import acting_as, current
from tasks_app import selectors
from tasks_app.models import (
    Comment,
    Matter,
    MatterMember,
    Membership,
    Milestone,
    Task,
    User,
)


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


def check_reviewer(*, matter: Matter, reviewer: User | None) -> None:
    """A reviewer is an active member of the matter's team (so inside its wall)."""
    if reviewer is None:
        return
    if not MatterMember.objects.filter(
        matter=matter, user=reviewer, user__is_active=True
    ).exists():
        raise ValidationError(
            {"reviewer": f"{reviewer.display_name} is not on this matter's team."}
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


@contextlib.contextmanager
def consequence(actor: User, *, caused_by: str, reason: str) -> Iterator[None]:
    """Writes inside are a consequence of an act: their events say which
    (`context.caused_by`) and why (`context.reason`), keeping the request's
    own source, id and tab."""
    ctx = current()
    with acting_as(
        actor,
        source=ctx.source,
        request_id=ctx.request_id,
        client_id=ctx.client_id,
        at=ctx.occurred_at,
        caused_by=caused_by,
        reason=reason,
    ):
        yield
