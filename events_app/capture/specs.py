"""The domain's tracked models: how each is described, labelled and related.

Tasks, comments and milestones (tasks_app) become events. This module is the
one part of capture that knows them: their specs (which diff, which label
field, where the matter is), where their labels are read from, and the two
deletes that change tasks without a signal. `register()` wires it all, from
the app's `ready()`.
"""

from __future__ import annotations

import time
from typing import Any

from django.db.models import signals

from events_app.capture import core, diff
from events_app.capture.tracking import attname_image
from tasks_app.models import (
    Comment,
    Matter,
    MatterMember,
    Membership,
    Milestone,
    Task,
    User,
)

SPECS = {
    Membership: core.Spec(
        subject_type="user",
        describe=diff.membership_events,
        label_field="user",
        matter_path=None,
        subject_field="user",
        firm_field="firm",
    ),
    Matter: core.Spec(
        subject_type="matter",
        describe=diff.matter_events,
        label_field=None,
        matter_path=core.SELF,
    ),
    MatterMember: core.Spec(
        subject_type="matter",
        describe=diff.matter_member_events,
        label_field=None,
        matter_path="matter",
        subject_field="matter",
    ),
    Task: core.Spec(
        subject_type="task",
        describe=diff.task_events,
        label_field="title",
        matter_path="matter",
    ),
    Comment: core.Spec(
        subject_type="comment",
        describe=diff.comment_events,
        label_field="body",
        matter_path="task",
        parent_type="task",
        parent_attname="task",
    ),
    Milestone: core.Spec(
        subject_type="milestone",
        describe=diff.milestone_events,
        label_field="name",
        matter_path="matter",
    ),
}

# A matter's firm never changes and its label is display text, so a process
# keeps it briefly instead of reading the matter on every tracked save.
MATTER_TTL_SECONDS = 60.0
_matter_cache: dict[int, tuple[float, dict[str, Any]]] = {}


def forget_matter(matter_id: int) -> None:
    """Drop a matter's cached label (it was renamed or deleted)."""
    _matter_cache.pop(matter_id, None)


class DomainLabels:
    """Labels from the domain's tables, one query per kind."""

    def users(self, ids: set[int]) -> dict[int, str]:
        return {
            user.pk: user.display_name
            for user in User.objects.filter(pk__in=ids).only(
                "username", "first_name", "last_name"
            )
        }

    def matters(self, ids: set[int]) -> dict[int, dict[str, Any]]:
        found: dict[int, dict[str, Any]] = {}
        now = time.monotonic()
        for matter_id in ids:
            hit = _matter_cache.get(matter_id)
            if hit is not None and hit[0] >= now:
                found[matter_id] = hit[1]
        missing = ids - found.keys()
        if missing:
            if len(_matter_cache) > 10_000:
                _matter_cache.clear()
            for row in Matter.objects.filter(pk__in=missing).values(
                "id", "firm_id", "number", "name"
            ):
                found[row["id"]] = row
                _matter_cache[row["id"]] = (now + MATTER_TTL_SECONDS, row)
        return found

    def milestones(self, ids: set[int]) -> dict[int, str]:
        return dict(Milestone.objects.filter(pk__in=ids).values_list("id", "name"))

    def tasks(self, ids: set[int]) -> dict[int, dict[str, Any]]:
        return {
            row["id"]: row
            for row in Task.objects.filter(pk__in=ids).values(
                "id", "title", "matter_id"
            )
        }


def _on_related_pre_delete(sender, instance, **kwargs: Any) -> None:
    """Deleting a milestone or user clears it on tasks with no signal; record that."""
    field = {Milestone: "milestone_id", User: "assignee_id"}[sender]
    pairs = []
    for task in Task.objects.filter(**{field: instance.pk}):
        old = attname_image(task)
        pairs.append((old, {**old, field: None}))
    if pairs:
        core.capture_images(Task, pairs)


def _on_matter_changed(sender, instance, **kwargs: Any) -> None:
    forget_matter(instance.pk)


def register() -> None:
    """Track the domain's models (called once, from the app's ready())."""
    for model, spec in SPECS.items():
        core.register(model, spec)
    core.use_labels(DomainLabels())
    signals.post_save.connect(
        _on_matter_changed, sender=Matter, dispatch_uid="hl_matter"
    )
    signals.post_delete.connect(
        _on_matter_changed, sender=Matter, dispatch_uid="hl_matter_del"
    )
    for model in (Milestone, User):
        signals.pre_delete.connect(
            _on_related_pre_delete,
            sender=model,
            dispatch_uid=f"hl_pre_delete_{model.__name__}",
        )
