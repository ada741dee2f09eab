"""Tasks: create, change, move across the board, delete.

Card order is a fractional key (tasks_app.ranking): a move writes only the
moved card, and moves, appends and status changes in a matter serialise on
the matter's row lock so two never take one key.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from events_app import context
from tasks_app import ranking, selectors
from tasks_app.models import Matter, Milestone, Task, User
from tasks_app.services.common import (
    check_assignee,
    check_milestone,
    check_reviewer,
    check_status,
    check_text_length,
    lock_task,
    require_open,
)

TASK_EDITABLE_FIELDS = (
    "title",
    "description",
    "status",
    "priority",
    "assignee",
    "reviewer",
    "due_date",
    "milestone",
)
# Editable fields that point at another row (set by instance, compared by id).
_RELATIONS = ("assignee", "reviewer", "milestone")


def _column_ranks(*, matter_id: int, status: str, exclude_id: int | None) -> Any:
    qs = Task.objects.filter(matter_id=matter_id, status=status)
    if exclude_id is not None:
        qs = qs.exclude(pk=exclude_id)
    return qs


def _rank_at_end(*, matter_id: int, status: str, exclude_id: int | None = None) -> str:
    last = (
        _column_ranks(matter_id=matter_id, status=status, exclude_id=exclude_id)
        .order_by("-rank", "-id")
        .values_list("rank", flat=True)
        .first()
    )
    return ranking.rank_between(last, None)


def _rank_at_end_of_short_column(
    *, actor: User | None, matter_id: int, status: str, exclude_id: int | None = None
) -> str:
    """The key after the column's last card, rebalancing first if it would run long.

    Appending halves the gap to the open end, so keys grow about one character
    per five appends; without this a column of a few hundred appended cards
    would pass the field's length.
    """
    key = _rank_at_end(matter_id=matter_id, status=status, exclude_id=exclude_id)
    if len(key) > ranking.MAX_KEY_LENGTH:
        _rebalance_column(actor=actor, matter_id=matter_id, status=status)
        key = _rank_at_end(matter_id=matter_id, status=status, exclude_id=exclude_id)
    return key


def _rebalance_column(*, actor: User | None, matter_id: int, status: str) -> None:
    """Give a column evenly spaced short keys (rare: only when keys run long)."""
    tasks = list(
        Task.objects.select_for_update()
        .filter(matter_id=matter_id, status=status)
        .order_by("rank", "id")
    )
    now = context.now()
    for task, key in zip(tasks, ranking.evenly_spaced(len(tasks)), strict=True):
        task.rank = key
        task.last_modified_by = actor
        task.updated_at = now
    Task.objects.bulk_update(tasks, ["rank", "last_modified_by", "updated_at"])


# --- tasks --------------------------------------------------------------------


@transaction.atomic
def task_create(
    *,
    actor: User,
    matter_id: int,
    title: str,
    description: str = "",
    status: str = Task.Status.TODO,
    priority: str = Task.Priority.NORMAL,
    assignee: User | None = None,
    due_date: dt.date | None = None,
    milestone: Milestone | None = None,
    reviewer: User | None = None,
) -> Task:
    matter = selectors.matter_get_for_user(user=actor, matter_id=matter_id)
    require_open(matter)
    check_status(status)
    check_text_length(Task, "description", description)
    check_assignee(matter=matter, assignee=assignee)
    check_reviewer(matter=matter, reviewer=reviewer)
    check_milestone(matter=matter, milestone=milestone)
    # Lock the matter row so concurrent appends to a column get distinct keys.
    Matter.objects.select_for_update().filter(pk=matter.pk).first()
    task = Task(
        matter=matter,
        title=(title or "").strip(),
        description=description or "",
        status=status,
        priority=priority,
        assignee=assignee,
        reviewer=reviewer,
        due_date=due_date,
        milestone=milestone,
        rank=_rank_at_end_of_short_column(
            actor=actor, matter_id=matter.pk, status=status
        ),
        created_by=actor,
        last_modified_by=actor,
    )
    task.full_clean()
    task.save()
    return task


@transaction.atomic
def task_update(*, actor: User, task_id: int, **changes: Any) -> Task:
    """Change any of TASK_EDITABLE_FIELDS; a save that changes nothing is skipped."""
    unknown = set(changes) - set(TASK_EDITABLE_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown task fields: {', '.join(sorted(unknown))}.")
    task = lock_task(actor=actor, task_id=task_id)
    require_open(task.matter)
    if "status" in changes:
        check_status(changes["status"])
    if "assignee" in changes:
        check_assignee(matter=task.matter, assignee=changes["assignee"])
    if changes.get("reviewer") is not None and (
        changes["reviewer"].pk != task.reviewer_id
    ):
        check_reviewer(matter=task.matter, reviewer=changes["reviewer"])
    if "milestone" in changes:
        check_milestone(matter=task.matter, milestone=changes["milestone"])
    if "title" in changes:
        changes["title"] = (changes["title"] or "").strip()
    if "description" in changes:
        # The column is NOT NULL; a blank description is the empty string.
        changes["description"] = changes["description"] or ""
        check_text_length(Task, "description", changes["description"])

    fields = []
    for field, value in changes.items():
        attname = f"{field}_id" if field in _RELATIONS else field
        current = getattr(task, attname)
        new = value.pk if field in _RELATIONS and value else value
        if field in _RELATIONS and not value:
            new = None
        if current != new:
            setattr(task, attname, new)
            fields.append(attname)
    if not fields:
        return task
    if "status" in fields:
        # Serialise with moves and creations so two cards never take one key.
        Matter.objects.select_for_update().filter(pk=task.matter_id).first()
        task.rank = _rank_at_end_of_short_column(
            actor=actor,
            matter_id=task.matter_id,
            status=task.status,
            exclude_id=task.pk,
        )
        fields.append("rank")
    task.last_modified_by = actor
    task.full_clean()
    task.save(update_fields=[*fields, "last_modified_by", "updated_at"])
    return task


@transaction.atomic
def task_assign(*, actor: User, task_id: int, assignee: User | None) -> Task:
    return task_update(actor=actor, task_id=task_id, assignee=assignee)


@transaction.atomic
def task_move(
    *,
    actor: User,
    task_id: int,
    status: str,
    after_id: int | None = None,
    before_id: int | None = None,
) -> Task:
    """Put a card in `status`, just after `after_id` or just before `before_id`.

    With neither, the card goes to the bottom of the column. Only the moved
    card is written, unless its new key would run too long; then the column is
    rebalanced once and the move retried.
    """
    check_status(status)
    task = lock_task(actor=actor, task_id=task_id)
    require_open(task.matter)
    # Serialise moves within a matter so two cards never take the same gap.
    Matter.objects.select_for_update().filter(pk=task.matter_id).first()
    for attempt in range(2):
        key = _key_for_position(
            task=task, status=status, after_id=after_id, before_id=before_id
        )
        if len(key) <= ranking.MAX_KEY_LENGTH or attempt == 1:
            break
        _rebalance_column(actor=actor, matter_id=task.matter_id, status=status)
        # The rebalance rewrote this card's key too if it is in that column.
        task.rank = Task.objects.values_list("rank", flat=True).get(pk=task.pk)
    if task.status == status and task.rank == key:
        return task
    fields = ["rank"]
    if task.status != status:
        task.status = status
        fields.append("status")
    task.rank = key
    task.last_modified_by = actor
    task.full_clean()
    task.save(update_fields=[*fields, "last_modified_by", "updated_at"])
    return task


def _key_for_position(
    *, task: Task, status: str, after_id: int | None, before_id: int | None
) -> str:
    """A key for the requested place; the card's own key if it is already there.

    Keeping the current key makes a drop back onto the same spot a no-op.
    """
    column = _column_ranks(matter_id=task.matter_id, status=status, exclude_id=task.pk)
    same_column = task.status == status
    if after_id is not None:
        anchor = column.filter(pk=after_id).values_list("rank", flat=True).first()
        if anchor is None:
            raise ValidationError(
                "The card to place after is not in that column of this board."
            )
        upper = (
            column.filter(rank__gt=anchor)
            .order_by("rank", "id")
            .values_list("rank", flat=True)
            .first()
        )
        if same_column and anchor < task.rank and (upper is None or task.rank < upper):
            return task.rank
        return ranking.rank_between(anchor, upper)
    if before_id is not None:
        anchor = column.filter(pk=before_id).values_list("rank", flat=True).first()
        if anchor is None:
            raise ValidationError(
                "The card to place before is not in that column of this board."
            )
        lower = (
            column.filter(rank__lt=anchor)
            .order_by("-rank", "-id")
            .values_list("rank", flat=True)
            .first()
        )
        if same_column and (lower is None or lower < task.rank) and task.rank < anchor:
            return task.rank
        return ranking.rank_between(lower, anchor)
    last = column.order_by("-rank", "-id").values_list("rank", flat=True).first()
    if same_column and (last is None or last < task.rank):
        return task.rank
    return ranking.rank_between(last, None)


@transaction.atomic
def task_delete(*, actor: User, task_id: int) -> None:
    task = lock_task(actor=actor, task_id=task_id)
    require_open(task.matter)
    task.last_modified_by = actor
    task.delete()
