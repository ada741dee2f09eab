"""Roadmaps: a firm's plans of milestones and tasks, and applying them to matters.

Firm admins and partners keep them: by hand, or by saving a matter's own
milestones and tasks as one. Applying one to a matter creates its
milestones and tasks in one transaction through the same services people
use (each created row records its own event), plus one `roadmap.applied`
on the matter; a failure leaves nothing. Each task goes to its default
person if they can see the matter, else to the team member holding its
default matter role, else to nobody; its due date counts from the day of
applying, or from its milestone's date.
"""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from events_app import names
from events_app.capture.records import record
from tasks_app import selectors
from tasks_app.models import (
    Matter,
    MatterMember,
    Milestone,
    Roadmap,
    RoadmapApplication,
    RoadmapMilestone,
    RoadmapTask,
    Task,
    User,
)
from tasks_app.services.common import require_member, require_open
from tasks_app.services.milestones import milestone_create
from tasks_app.services.tasks import task_create


def _require_planner(actor: User) -> int:
    membership = require_member(actor)
    if not membership.manages_matters:
        raise PermissionDenied("Only partners and firm admins keep roadmaps.")
    return membership.firm_id


def lock_roadmap(*, actor: User, roadmap_id: int) -> Roadmap:
    firm_id = _require_planner(actor)
    roadmap = (
        Roadmap.objects.select_for_update()
        .filter(pk=roadmap_id, firm_id=firm_id)
        .first()
    )
    if roadmap is None:
        raise Http404("No such roadmap.")
    return roadmap


@transaction.atomic
def roadmap_create(*, actor: User, name: str, description: str = "") -> Roadmap:
    firm_id = _require_planner(actor)
    roadmap = Roadmap(
        firm_id=firm_id,
        name=(name or "").strip(),
        description=(description or "").strip(),
        created_by=actor,
    )
    roadmap.full_clean()
    roadmap.save()
    return roadmap


@transaction.atomic
def roadmap_update(
    *, actor: User, roadmap_id: int, name: str, description: str = ""
) -> Roadmap:
    roadmap = lock_roadmap(actor=actor, roadmap_id=roadmap_id)
    roadmap.name = (name or "").strip()
    roadmap.description = (description or "").strip()
    roadmap.full_clean()
    roadmap.save()
    return roadmap


@transaction.atomic
def roadmap_delete(*, actor: User, roadmap_id: int) -> None:
    lock_roadmap(actor=actor, roadmap_id=roadmap_id).delete()


@transaction.atomic
def roadmap_milestone_add(
    *, actor: User, roadmap_id: int, name: str, due_offset_days: int | None = None
) -> RoadmapMilestone:
    roadmap = lock_roadmap(actor=actor, roadmap_id=roadmap_id)
    milestone = RoadmapMilestone(
        roadmap=roadmap,
        name=(name or "").strip(),
        due_offset_days=due_offset_days,
        position=roadmap.milestones.count(),
    )
    milestone.full_clean()
    milestone.save()
    return milestone


@transaction.atomic
def roadmap_task_add(
    *,
    actor: User,
    roadmap_id: int,
    title: str,
    description: str = "",
    milestone: RoadmapMilestone | None = None,
    default_role: str = "",
    default_person: User | None = None,
    priority: str = Task.Priority.NORMAL,
    due_offset_days: int | None = None,
    due_from: str = RoadmapTask.DueFrom.APPLIED,
) -> RoadmapTask:
    roadmap = lock_roadmap(actor=actor, roadmap_id=roadmap_id)
    item = RoadmapTask(
        roadmap=roadmap,
        milestone=milestone,
        title=(title or "").strip(),
        description=description or "",
        default_role=default_role or "",
        default_person=default_person,
        priority=priority,
        due_offset_days=due_offset_days,
        due_from=due_from,
        position=roadmap.tasks.count(),
    )
    item.full_clean()
    item.save()
    return item


@transaction.atomic
def roadmap_item_remove(*, actor: User, roadmap_id: int, kind: str, item_id: int):
    roadmap = lock_roadmap(actor=actor, roadmap_id=roadmap_id)
    items = roadmap.milestones if kind == "milestone" else roadmap.tasks
    deleted, _ = items.filter(pk=item_id).delete()
    if not deleted:
        raise Http404("No such item on this roadmap.")


@transaction.atomic
def roadmap_from_matter(
    *, actor: User, matter_id: int, name: str, today: dt.date | None = None
) -> Roadmap:
    """Save a matter's milestones and tasks as a roadmap (dates as offsets)."""
    matter = selectors.matter_get_for_user(user=actor, matter_id=matter_id)
    today = today or timezone.localdate()
    roadmap = roadmap_create(
        actor=actor,
        name=name,
        description=f"Saved from {matter.number} on {today:%d %b %Y}.",
    )
    roles = dict(
        MatterMember.objects.filter(matter=matter).values_list("user_id", "role")
    )
    made: dict[int, RoadmapMilestone] = {}
    for position, milestone in enumerate(Milestone.objects.filter(matter=matter)):
        made[milestone.pk] = RoadmapMilestone.objects.create(
            roadmap=roadmap,
            name=milestone.name,
            due_offset_days=(milestone.due_date - today).days
            if milestone.due_date
            else None,
            position=position,
        )
    tasks = Task.objects.filter(matter=matter).select_related("milestone")
    for position, task in enumerate(tasks.order_by("created_at", "pk")):
        step = made.get(task.milestone_id)
        from_milestone = bool(step and task.milestone.due_date and task.due_date)
        if from_milestone:
            offset = (task.due_date - task.milestone.due_date).days
        else:
            offset = (task.due_date - today).days if task.due_date else None
        item = RoadmapTask(
            roadmap=roadmap,
            milestone=step,
            title=task.title,
            description=task.description,
            default_role=roles.get(task.assignee_id, ""),
            priority=task.priority,
            due_offset_days=offset,
            due_from=RoadmapTask.DueFrom.MILESTONE
            if from_milestone
            else RoadmapTask.DueFrom.APPLIED,
            position=position,
        )
        item.full_clean()
        item.save()
    return roadmap


def last_application(*, roadmap: Roadmap, matter: Matter) -> RoadmapApplication | None:
    return RoadmapApplication.objects.filter(roadmap=roadmap, matter=matter).first()


def _assignee(item: RoadmapTask, matter: Matter, visible: set[int]) -> User | None:
    if item.default_person_id and item.default_person_id in visible:
        return item.default_person
    if item.default_role:
        member = (
            MatterMember.objects.filter(
                matter=matter, role=item.default_role, user__is_active=True
            )
            .select_related("user")
            .order_by("added_at", "pk")
            .first()
        )
        if member is not None:
            return member.user
    return None


def _offset(base: dt.date | None, days: int | None) -> dt.date | None:
    if base is None or days is None:
        return None
    try:
        return base + dt.timedelta(days=days)
    except OverflowError as exc:
        raise ValidationError("A due date of this roadmap is out of range.") from exc


@transaction.atomic
def roadmap_apply(
    *,
    actor: User,
    roadmap_id: int,
    matter_id: int,
    again: bool = False,
    today: dt.date | None = None,
) -> RoadmapApplication:
    """Create the roadmap's milestones and tasks on the matter, all or nothing."""
    roadmap = lock_roadmap(actor=actor, roadmap_id=roadmap_id)
    matter = selectors.matter_get_for_user(user=actor, matter_id=matter_id)
    require_open(matter)
    if matter.firm_id != roadmap.firm_id:
        raise Http404("No such matter.")
    previous = last_application(roadmap=roadmap, matter=matter)
    if previous is not None and not again:
        raise ValidationError(
            f"“{roadmap.name}” was already applied to {matter.number} on "
            f"{previous.applied_on:%d %b %Y}; applying it again adds its "
            "milestones and tasks a second time."
        )
    today = today or timezone.localdate()
    visible = set(
        selectors.users_who_can_see_matter(matter=matter).values_list("pk", flat=True)
    )
    milestones: dict[int, Milestone] = {}
    for step in roadmap.milestones.all():
        milestones[step.pk] = milestone_create(
            actor=actor,
            matter_id=matter.pk,
            name=step.name,
            due_date=_offset(today, step.due_offset_days),
        )
    created = 0
    for item in roadmap.tasks.select_related("milestone", "default_person"):
        milestone = milestones.get(item.milestone_id)
        base = (
            milestone.due_date
            if item.due_from == RoadmapTask.DueFrom.MILESTONE and milestone
            else today
        )
        task_create(
            actor=actor,
            matter_id=matter.pk,
            title=item.title,
            description=item.description,
            priority=item.priority,
            assignee=_assignee(item, matter, visible),
            due_date=_offset(base, item.due_offset_days),
            milestone=milestone,
        )
        created += 1
    record(
        name=names.ROADMAP_APPLIED,
        firm_id=matter.firm_id,
        actor={"id": actor.pk, "name": actor.display_name},
        subject={"type": "matter", "id": matter.pk, "label": matter.label},
        matter={"id": matter.pk, "label": matter.label},
        changes={
            "roadmap": [None, roadmap.name],
            "milestones": [None, len(milestones)],
            "tasks": [None, created],
        },
    )
    return RoadmapApplication.objects.create(
        roadmap=roadmap, matter=matter, applied_by=actor, applied_on=today
    )
