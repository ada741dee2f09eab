"""Milestones: dated goals of a matter; their progress follows their tasks."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.http import Http404

from tasks_app import selectors
from tasks_app.models import Milestone, Task, User
from tasks_app.services.common import require_open


@transaction.atomic
def milestone_create(
    *, actor: User, matter_id: int, name: str, due_date: dt.date | None = None
) -> Milestone:
    matter = selectors.matter_get_for_user(user=actor, matter_id=matter_id)
    require_open(matter)
    milestone = Milestone(
        matter=matter,
        name=name,
        due_date=due_date,
        created_by=actor,
        last_modified_by=actor,
    )
    milestone.full_clean()
    milestone.save()
    return milestone


@transaction.atomic
def milestone_update(
    *, actor: User, milestone_id: int, name: str | None = None, due_date: Any = ...
) -> Milestone:
    milestone = (
        Milestone.objects.select_for_update(of=("self",))
        .filter(
            selectors.matter_visibility_q(actor, prefix="matter__"), pk=milestone_id
        )
        .select_related("matter")
        .first()
    )
    if milestone is None:
        raise Http404("No such milestone.")
    require_open(milestone.matter)
    fields = []
    if name is not None and name != milestone.name:
        milestone.name = name
        fields.append("name")
    if due_date is not ... and due_date != milestone.due_date:
        milestone.due_date = due_date
        fields.append("due_date")
    if not fields:
        return milestone
    milestone.last_modified_by = actor
    milestone.full_clean()
    milestone.save(update_fields=[*fields, "last_modified_by", "updated_at"])
    return milestone


@transaction.atomic
def milestone_recompute_progress(*, milestone_id: int) -> Milestone | None:
    """Set progress from the milestone's tasks (done / all); a system action.

    Recomputed, never incremented, so running it twice changes nothing.
    """
    milestone = Milestone.objects.select_for_update().filter(pk=milestone_id).first()
    if milestone is None:
        return None
    total = milestone.tasks.count()
    done = milestone.tasks.filter(status=Task.Status.DONE).count()
    progress = round(100 * done / total) if total else 0
    if progress != milestone.progress:
        milestone.progress = progress
        milestone.last_modified_by = None
        milestone.save(update_fields=["progress", "last_modified_by", "updated_at"])
    return milestone
