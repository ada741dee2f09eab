"""Handing a person's open tasks on: when they leave, or leave a matter's team.

Per matter, the plan proposes the holder of the same matter role, else the
responsible partner; whoever manages it may choose someone else (a preview
screen). Applying reassigns every task in one transaction, each task's
`task.assigned` naming the cause, under one `user.tasks_handed_over` event
that tells each new assignee once, with counts and no task titles (a firm
admin may hand on tasks of a walled matter they cannot see into).

Their reviews go too (`release_reviews`): each open task they were to review
passes to the matter's responsible partner, or to no one when that is the
leaver or the task's own assignee; a task waiting In review asks its new
reviewer at once (`task.review_requested`, from the diff).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError

from events_app import names
from events_app.capture.records import record
from events_app.context import acting_as, current
from tasks_app import selectors
from tasks_app.models import Matter, MatterMember, Task, User
from tasks_app.services.common import consequence


@dataclass
class HandoverLine:
    """One matter's open tasks of the person, and who should take them."""

    matter: Matter
    tasks: list[Task]
    role: str | None
    proposed: User | None
    candidates: list[User] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.tasks)


def handover_plan(
    *, person: User, matter_ids: Collection[int] | None = None
) -> list[HandoverLine]:
    """The person's open tasks per matter (open matters only), with proposals."""
    tasks = (
        Task.objects.filter(assignee=person, matter__closed_at__isnull=True)
        .exclude(status=Task.Status.DONE)
        .select_related("matter")
        .order_by("matter__number", "status", "rank")
    )
    if matter_ids is not None:
        tasks = tasks.filter(matter_id__in=list(matter_ids))
    by_matter: dict[int, list[Task]] = defaultdict(list)
    matters: dict[int, Matter] = {}
    for task in tasks:
        by_matter[task.matter_id].append(task)
        matters[task.matter_id] = task.matter
    lines = []
    for matter_id, matter_tasks in by_matter.items():
        matter = matters[matter_id]
        team = list(
            MatterMember.objects.filter(matter=matter, user__is_active=True)
            .select_related("user")
            .order_by("added_at", "id")
        )
        role = next((m.role for m in team if m.user_id == person.pk), None)
        others = [m for m in team if m.user_id != person.pk]
        same_role = next((m.user for m in others if role and m.role == role), None)
        partner = next(
            (m.user for m in others if m.role == MatterMember.Role.RESPONSIBLE_PARTNER),
            None,
        )
        candidates = [
            u
            for u in selectors.users_who_can_see_matter(matter=matter)
            if u.pk != person.pk
        ]
        if matter.is_restricted:
            # Leaving a walled matter's team leaves its wall: only the rest
            # of the team can take the work on.
            on_team = {m.user_id for m in others}
            candidates = [u for u in candidates if u.pk in on_team]
        lines.append(
            HandoverLine(
                matter=matter,
                tasks=matter_tasks,
                role=role,
                proposed=same_role or partner,
                candidates=candidates,
            )
        )
    return lines


def handover_apply(
    *,
    actor: User,
    person: User,
    plan: list[HandoverLine],
    choices: Mapping[int, User | None],
    cause: str,
) -> dict[int, int]:
    """Reassign every planned task; returns {new assignee id: tasks handed}.

    Must run in the caller's transaction. `choices` maps a matter id to the
    person chosen instead of the proposal.
    """
    chosen: dict[int, User] = {}
    for line in plan:
        successor = choices.get(line.matter.pk) or line.proposed
        if successor is None:
            raise ValidationError(
                f"Choose who takes over {line.count} open task(s) on "
                f"{line.matter.number}."
            )
        if successor.pk not in {u.pk for u in line.candidates}:
            raise ValidationError(
                f"{successor.display_name} cannot take over tasks on "
                f"{line.matter.number}."
            )
        chosen[line.matter.pk] = successor
    counts: dict[int, int] = defaultdict(int)
    for line in plan:
        counts[chosen[line.matter.pk].pk] += line.count
    if not counts:
        return {}
    people = {u.pk: u for u in chosen.values()}
    summary = record(
        name=names.USER_TASKS_HANDED_OVER,
        firm_id=selectors.user_firm_id(person),
        actor={"id": actor.pk, "name": actor.display_name},
        subject={"type": "user", "id": person.pk, "label": person.display_name},
        changes={
            "cause": [None, cause],
            "to": [
                None,
                [
                    {"id": pk, "name": people[pk].display_name, "tasks": n}
                    for pk, n in sorted(counts.items())
                ],
            ],
        },
    )
    with consequence(
        actor, caused_by=summary["id"], reason=f"{names.HANDOVER_REASON}: {cause}"
    ):
        for line in plan:
            successor = chosen[line.matter.pk]
            for task in Task.objects.select_for_update().filter(
                pk__in=[t.pk for t in line.tasks]
            ):
                task.assignee = successor
                task.last_modified_by = actor
                task.save(update_fields=["assignee", "last_modified_by", "updated_at"])
    return dict(counts)


def release_reviews(
    *,
    actor: User,
    person: User,
    cause: str,
    matter_ids: Collection[int] | None = None,
) -> int:
    """Pass the person's pending reviews on; returns how many tasks changed.

    Must run in the caller's transaction, after `handover_apply` (a task's
    new assignee never becomes its reviewer).
    """
    tasks = (
        Task.objects.select_for_update()
        .filter(reviewer=person, matter__closed_at__isnull=True)
        .exclude(status=Task.Status.DONE)
        .order_by("pk")
    )
    if matter_ids is not None:
        tasks = tasks.filter(matter_id__in=list(matter_ids))
    partners = dict(
        MatterMember.objects.filter(
            role=MatterMember.Role.RESPONSIBLE_PARTNER, user__is_active=True
        )
        .exclude(user=person)
        .values_list("matter_id", "user_id")
    )
    ctx = current()
    changed = 0
    with acting_as(
        actor,
        source=ctx.source,
        request_id=ctx.request_id,
        client_id=ctx.client_id,
        at=ctx.occurred_at,
        reason=f"{names.HANDOVER_REASON}: {cause}",
    ):
        for task in tasks:
            partner = partners.get(task.matter_id)
            task.reviewer_id = partner if partner != task.assignee_id else None
            task.last_modified_by = actor
            task.save(update_fields=["reviewer", "last_modified_by", "updated_at"])
            changed += 1
    return changed
