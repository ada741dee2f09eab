"""Services: the only writers of the domain.

Every function is keyword-only, runs in one transaction, checks that the actor
may do what it asks, validates with `full_clean()` before saving, and sets
`last_modified_by`. Rows are loaded under `select_for_update`, so the image
the event capture compares against is the row as it stood, with no extra
SELECT per save.

Errors: an object the actor may not see raises Http404 (a wall leaks nothing);
bad input raises ValidationError (a form error or a 400); an action on a
visible object the actor may not take raises PermissionDenied.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from tasks_app import ranking, selectors
from tasks_app.models import (
    Comment,
    Matter,
    Membership,
    Milestone,
    Task,
    TaskWatch,
    User,
)

TASK_EDITABLE_FIELDS = (
    "title",
    "description",
    "status",
    "priority",
    "assignee",
    "due_date",
    "milestone",
)


# --- helpers ------------------------------------------------------------------


def _require_member(actor: User) -> Membership:
    membership = selectors.membership_for(actor)
    if membership is None:
        raise PermissionDenied("You are not a member of a firm.")
    return membership


def _lock_task(*, actor: User, task_id: int) -> Task:
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


def _check_assignee(*, matter: Matter, assignee: User | None) -> None:
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


def _check_milestone(*, matter: Matter, milestone: Milestone | None) -> None:
    if milestone is not None and milestone.matter_id != matter.pk:
        raise ValidationError(
            {"milestone": "That milestone belongs to another matter."}
        )


def _check_status(status: str) -> None:
    if status not in Task.Status.values:
        raise ValidationError({"status": f"“{status}” is not a status."})


def _check_text_length(model: type[Task | Comment], field: str, value: str) -> None:
    """Enforce a TextField's max_length, which Django leaves to forms only."""
    limit = model._meta.get_field(field).max_length
    if limit and value and len(value) > limit:
        raise ValidationError(
            {field: f"At most {limit:,} characters, not {len(value):,}."}
        )


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
    now = timezone.now()
    for task, key in zip(tasks, ranking.evenly_spaced(len(tasks)), strict=True):
        task.rank = key
        task.last_modified_by = actor
        task.updated_at = now
    Task.objects.bulk_update(tasks, ["rank", "last_modified_by", "updated_at"])


# --- matters ------------------------------------------------------------------


@transaction.atomic
def matter_create(
    *,
    actor: User,
    number: str,
    name: str,
    client_name: str,
    is_restricted: bool = False,
    members: list[User] | None = None,
) -> Matter:
    membership = _require_member(actor)
    if membership.role not in (Membership.Role.PARTNER, Membership.Role.FIRM_ADMIN):
        raise PermissionDenied("Only partners and firm admins open matters.")
    matter = Matter(
        firm_id=membership.firm_id,
        number=number,
        name=name,
        client_name=client_name,
        is_restricted=is_restricted,
    )
    matter.full_clean()
    matter.save()
    if is_restricted:
        people = list(members or [])
        if actor not in people:
            people.append(actor)
        foreign = [u for u in people if u.firm_id_or_none != membership.firm_id]
        if foreign:
            raise ValidationError({"members": "Members must belong to the firm."})
        matter.members.set(people)
    return matter


# --- milestones -----------------------------------------------------------------


@transaction.atomic
def milestone_create(
    *, actor: User, matter_id: int, name: str, due_date: dt.date | None = None
) -> Milestone:
    matter = selectors.matter_get_for_user(user=actor, matter_id=matter_id)
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
        .first()
    )
    if milestone is None:
        raise Http404("No such milestone.")
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
) -> Task:
    matter = selectors.matter_get_for_user(user=actor, matter_id=matter_id)
    _check_status(status)
    _check_text_length(Task, "description", description)
    _check_assignee(matter=matter, assignee=assignee)
    _check_milestone(matter=matter, milestone=milestone)
    # Lock the matter row so concurrent appends to a column get distinct keys.
    Matter.objects.select_for_update().filter(pk=matter.pk).first()
    task = Task(
        matter=matter,
        title=(title or "").strip(),
        description=description or "",
        status=status,
        priority=priority,
        assignee=assignee,
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
    task = _lock_task(actor=actor, task_id=task_id)
    if "status" in changes:
        _check_status(changes["status"])
    if "assignee" in changes:
        _check_assignee(matter=task.matter, assignee=changes["assignee"])
    if "milestone" in changes:
        _check_milestone(matter=task.matter, milestone=changes["milestone"])
    if "title" in changes:
        changes["title"] = (changes["title"] or "").strip()
    if "description" in changes:
        # The column is NOT NULL; a blank description is the empty string.
        changes["description"] = changes["description"] or ""
        _check_text_length(Task, "description", changes["description"])

    fields = []
    for field, value in changes.items():
        attname = f"{field}_id" if field in ("assignee", "milestone") else field
        current = getattr(task, attname)
        new = value.pk if field in ("assignee", "milestone") and value else value
        if field in ("assignee", "milestone") and not value:
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
    _check_status(status)
    task = _lock_task(actor=actor, task_id=task_id)
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
    task = _lock_task(actor=actor, task_id=task_id)
    task.last_modified_by = actor
    task.delete()


# --- comments -------------------------------------------------------------------


@transaction.atomic
def comment_create(*, actor: User, task_id: int, body: str) -> Comment:
    task = selectors.task_get_for_user(user=actor, task_id=task_id)
    body = (body or "").strip()
    _check_text_length(Comment, "body", body)
    comment = Comment(task=task, author=actor, body=body, last_modified_by=actor)
    comment.full_clean()
    comment.save()
    return comment


def _lock_own_comment(*, actor: User, comment_id: int) -> Comment:
    comment = (
        Comment.objects.select_for_update(of=("self",))
        .filter(selectors.matter_visibility_q(actor, prefix="task__matter__"))
        .filter(pk=comment_id, is_deleted=False)
        .select_related("task")
        .first()
    )
    if comment is None:
        raise Http404("No such comment.")
    if comment.author_id != actor.pk:
        raise PermissionDenied("You can only change your own comments.")
    return comment


@transaction.atomic
def comment_edit(*, actor: User, comment_id: int, body: str) -> Comment:
    comment = _lock_own_comment(actor=actor, comment_id=comment_id)
    body = (body or "").strip()
    if body == comment.body:
        return comment
    _check_text_length(Comment, "body", body)
    comment.body = body
    comment.edited_at = timezone.now()
    comment.last_modified_by = actor
    comment.full_clean()
    comment.save(update_fields=["body", "edited_at", "last_modified_by"])
    return comment


@transaction.atomic
def comment_delete(*, actor: User, comment_id: int) -> None:
    comment = _lock_own_comment(actor=actor, comment_id=comment_id)
    comment.is_deleted = True
    comment.last_modified_by = actor
    comment.save(update_fields=["is_deleted", "last_modified_by"])


# --- watching -------------------------------------------------------------------


@transaction.atomic
def task_watch(*, actor: User, task_id: int) -> TaskWatch:
    """Start following a task's comments; watching twice is one watch.

    Permission is seeing the task (Http404 otherwise, so a wall leaks nothing).
    """
    task = selectors.task_get_for_user(user=actor, task_id=task_id)
    watch, _ = TaskWatch.objects.get_or_create(task=task, user=actor)
    return watch


@transaction.atomic
def task_unwatch(*, actor: User, task_id: int) -> None:
    """Stop following a task; unwatching a task not watched changes nothing."""
    task = selectors.task_get_for_user(user=actor, task_id=task_id)
    TaskWatch.objects.filter(task=task, user=actor).delete()
