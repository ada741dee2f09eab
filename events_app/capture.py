"""Capture: rows' old and new images -> event envelopes -> outbox rows.

This is the one place where domain events are made. Signals and the tracked
queryset hand images here; `diff` decides what happened; this module adds who
(the event context, else the row's `last_modified_by`), labels (so events are
self-contained) and the tenant, and writes the outbox rows in the current
transaction. Relations are read in one query per kind per batch, and not at
all when the instance already holds them.
"""

from __future__ import annotations

import datetime as dt
import decimal
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.db import models
from django.utils import timezone

from events_app import context, diff, envelope, names, outbox
from events_app.tracking import attname_image, remember_image

logger = logging.getLogger(__name__)

AttImage = dict[str, Any]


@dataclass(frozen=True)
class Spec:
    """How one tracked model becomes events."""

    subject_type: str
    describe: Callable[[diff.Image | None, diff.Image | None], list[diff.Draft]]
    label_field: str
    # attname of the matter, or of the parent task whose matter is used.
    matter_path: str
    parent_type: str | None = None
    parent_attname: str | None = None


SPECS: dict[type[models.Model], Spec] = {}


def register(model: type[models.Model], spec: Spec) -> None:
    SPECS[model] = spec


def is_tracked(model: type[models.Model]) -> bool:
    return model in SPECS


# --- images -------------------------------------------------------------------


@cache
def _field_names(model: type[models.Model]) -> dict[str, str]:
    return {f.attname: f.name for f in model._meta.concrete_fields}


def to_field_image(model: type[models.Model], image: AttImage | None) -> dict | None:
    """attname keys -> field names (`assignee_id` -> `assignee`)."""
    if image is None:
        return None
    names = _field_names(model)
    return {names.get(k, k): v for k, v in image.items()}


def json_safe(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return envelope.isoformat(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    return value


# --- labels -------------------------------------------------------------------


# A matter's firm never changes and its label is display text, so a process
# keeps it briefly instead of reading the matter on every tracked save.
_MATTER_TTL_SECONDS = 60.0
_matter_cache: dict[int, tuple[float, dict[str, Any]]] = {}


def _matter_cache_get(matter_id: int) -> dict[str, Any] | None:
    hit = _matter_cache.get(matter_id)
    if hit is None or hit[0] < time.monotonic():
        return None
    return hit[1]


def _matter_cache_put(row: dict[str, Any]) -> None:
    if len(_matter_cache) > 10_000:
        _matter_cache.clear()
    _matter_cache[row["id"]] = (time.monotonic() + _MATTER_TTL_SECONDS, row)


def forget_matter(matter_id: int) -> None:
    """Drop a matter's cached label (it was renamed or deleted)."""
    _matter_cache.pop(matter_id, None)


class _Labels:
    """Batch lookups of the labels a set of events needs."""

    def __init__(self) -> None:
        self.users: dict[int, str] = {}
        self.matters: dict[int, dict[str, Any]] = {}
        self.milestones: dict[int, str] = {}
        self.tasks: dict[int, dict[str, Any]] = {}

    def load(
        self,
        *,
        user_ids: set[int],
        matter_ids: set[int],
        milestone_ids: set[int],
        task_ids: set[int],
    ) -> None:
        from tasks_app.models import Matter, Milestone, Task, User

        user_ids -= self.users.keys()
        missing_tasks = task_ids - self.tasks.keys()
        if missing_tasks:
            for row in Task.objects.filter(pk__in=missing_tasks).values(
                "id", "title", "matter_id"
            ):
                self.tasks[row["id"]] = row
        matter_ids.update(
            self.tasks[pk]["matter_id"] for pk in task_ids if pk in self.tasks
        )
        matter_ids -= self.matters.keys()
        milestone_ids -= self.milestones.keys()
        if user_ids:
            for user in User.objects.filter(pk__in=user_ids).only(
                "username", "first_name", "last_name"
            ):
                self.users[user.pk] = user.display_name
        for matter_id in list(matter_ids):
            cached = _matter_cache_get(matter_id)
            if cached is not None:
                self.matters[matter_id] = cached
                matter_ids.discard(matter_id)
        if matter_ids:
            for row in Matter.objects.filter(pk__in=matter_ids).values(
                "id", "firm_id", "number", "name"
            ):
                self.matters[row["id"]] = row
                _matter_cache_put(row)
        if milestone_ids:
            self.milestones.update(
                Milestone.objects.filter(pk__in=milestone_ids).values_list("id", "name")
            )

    def remember_instance(self, instance: models.Model) -> None:
        """Take relations the instance already holds, to save queries."""
        cache = getattr(instance._state, "fields_cache", {})
        matter = cache.get("matter")
        if matter is not None:
            self.matters.setdefault(
                matter.pk,
                {
                    "id": matter.pk,
                    "firm_id": matter.firm_id,
                    "number": matter.number,
                    "name": matter.name,
                },
            )
        task = cache.get("task")
        if task is not None:
            self.tasks.setdefault(
                task.pk,
                {"id": task.pk, "title": task.title, "matter_id": task.matter_id},
            )
            self.remember_instance(task)
        for name in ("assignee", "author", "last_modified_by"):
            user = cache.get(name)
            if user is not None:
                self.users.setdefault(user.pk, user.display_name)
        milestone = cache.get("milestone")
        if milestone is not None:
            self.milestones.setdefault(milestone.pk, milestone.name)

    def user(self, user_id: int | None) -> dict[str, Any] | None:
        if user_id is None:
            return None
        return {"id": user_id, "name": self.users.get(user_id, f"user {user_id}")}

    def matter(self, matter_id: int | None) -> dict[str, Any] | None:
        row = self.matters.get(matter_id) if matter_id else None
        if row is None:
            return None
        return {"id": row["id"], "label": f"{row['number']} {row['name']}"}

    def milestone(self, milestone_id: int | None) -> dict[str, Any] | None:
        if milestone_id is None:
            return None
        return {"id": milestone_id, "label": self.milestones.get(milestone_id, "")}


@cache
def _user_fields(model: type[models.Model]) -> frozenset[str]:
    from tasks_app.models import User

    return frozenset(
        f.name
        for f in model._meta.concrete_fields
        if f.is_relation and f.related_model is User
    )


# --- capture ------------------------------------------------------------------


def capture_rows(
    model: type[models.Model], pairs: Sequence[tuple[AttImage | None, models.Model]]
) -> list[dict[str, Any]]:
    """Capture (old image, saved instance) pairs."""
    return capture_images(
        model,
        [(old, attname_image(obj)) for old, obj in pairs],
        instances={obj.pk: obj for _, obj in pairs},
    )


def capture_images(
    model: type[models.Model],
    pairs: Iterable[tuple[AttImage | None, AttImage | None]],
    *,
    instances: dict[Any, models.Model] | None = None,
) -> list[dict[str, Any]]:
    """Turn (old, new) attname images into events and put them in the outbox."""
    spec = SPECS.get(model)
    if spec is None:
        return []
    # (the image that names the row: new, or old for a delete; its drafts)
    drafted: list[tuple[dict, list[diff.Draft]]] = []
    for old, new in pairs:
        old_f, new_f = to_field_image(model, old), to_field_image(model, new)
        drafts = spec.describe(old_f, new_f)
        if drafts:
            drafted.append((new_f or old_f, drafts))
    if not drafted:
        return []

    ctx = context.current()
    labels = _Labels()
    for instance in (instances or {}).values():
        labels.remember_instance(instance)
    user_fields = _user_fields(model)
    user_ids: set[int] = set()
    matter_ids: set[int] = set()
    milestone_ids: set[int] = set()
    task_ids: set[int] = set()
    for image, drafts in drafted:
        if ctx.user_id is None and image.get("last_modified_by"):
            user_ids.add(image["last_modified_by"])
        for draft in drafts[:1]:
            for key, values in draft.changes.items():
                target = (
                    user_ids
                    if key in user_fields
                    else milestone_ids
                    if key == "milestone"
                    else None
                )
                if target is not None:
                    target.update(v for v in values if v)
        if spec.matter_path == "matter":
            matter_ids.add(image["matter"])
        else:
            task_ids.add(image[spec.matter_path])
        if model._meta.model_name == "milestone":
            milestone_ids.add(image["id"])
    labels.load(
        user_ids=user_ids,
        matter_ids=matter_ids,
        milestone_ids=milestone_ids,
        task_ids=task_ids,
    )

    now = timezone.now()
    context_dict = _context_dict(ctx)
    events = []
    for image, drafts in drafted:
        parent = None
        if spec.parent_type:
            task = labels.tasks.get(image[spec.parent_attname]) or {}
            parent = {
                "type": spec.parent_type,
                "id": image[spec.parent_attname],
                "label": task.get("title", ""),
            }
            matter_id = task.get("matter_id")
        else:
            matter_id = image["matter"]
        matter_row = labels.matters.get(matter_id) or {}
        subject = {
            "type": spec.subject_type,
            "id": image["id"],
            "label": _label(spec, image),
        }
        matter = labels.matter(matter_id)
        # A save's drafts share one `changes` (each event carries them all):
        # describe it once. Envelopes may share these parts; none is mutated.
        described: dict[int, dict[str, list[Any]]] = {}
        for draft in drafts:
            if ctx.user_id is not None:
                actor = {"id": ctx.user_id, "name": ctx.user_name}
            elif draft.actor_id is not None and ctx.source != "system":
                actor = labels.user(draft.actor_id)
            else:
                actor = dict(envelope.SYSTEM_ACTOR)
            changes = described.get(id(draft.changes))
            if changes is None:
                changes = _describe_changes(draft.changes, labels, user_fields)
                described[id(draft.changes)] = changes
            occurred_at = draft.occurred_at or now
            if draft.name.endswith(".deleted") or draft.occurred_at is None:
                occurred_at = now
            events.append(
                envelope.build(
                    name=draft.name,
                    occurred_at=occurred_at,
                    firm_id=matter_row.get("firm_id"),
                    actor=actor,
                    subject=subject,
                    matter=matter,
                    changes=changes,
                    context=context_dict,
                    parent=parent,
                )
            )
    outbox.enqueue(events)
    return events


def _label(spec: Spec, image: dict[str, Any]) -> str:
    text = str(image.get(spec.label_field) or "")
    return text if len(text) <= 80 else text[:79] + "…"


def _describe_changes(
    changes: dict[str, list[Any]], labels: _Labels, user_fields: frozenset[str]
) -> dict[str, list[Any]]:
    described = {}
    for key, (before, after) in changes.items():
        if key in user_fields:
            described[key] = [labels.user(before), labels.user(after)]
        elif key == "milestone":
            described[key] = [labels.milestone(before), labels.milestone(after)]
        else:
            described[key] = [json_safe(before), json_safe(after)]
    return described


def _context_dict(ctx: context.EventContext) -> dict[str, Any]:
    data = {"source": ctx.source, "request_id": ctx.request_id}
    if ctx.caused_by:
        data["caused_by"] = ctx.caused_by
    if ctx.client_id:
        data["client_id"] = ctx.client_id
    return data


# --- non-row events -------------------------------------------------------------


def record(
    *,
    name: str,
    firm_id: int | None,
    actor: dict[str, Any],
    subject: dict[str, Any],
    matter: dict[str, Any] | None = None,
    changes: dict[str, Any] | None = None,
    parent: dict[str, Any] | None = None,
    occurred_at: dt.datetime | None = None,
) -> dict[str, Any]:
    """Record an event that is not a row change (a login, a page view)."""
    event = envelope.build(
        name=name,
        occurred_at=occurred_at or timezone.now(),
        firm_id=firm_id,
        actor=actor,
        subject=subject,
        matter=matter,
        changes=changes or {},
        context=_context_dict(context.current()),
        parent=parent,
    )
    outbox.enqueue([event])
    return event


def record_task_viewed(*, user: Any, task: Any) -> dict[str, Any] | None:
    """Record `task.viewed`, at most once per user and task per window.

    The window (settings.TASK_VIEWED_WINDOW_SECONDS) is kept in the cache,
    whose `add` is atomic, so two tabs opening a task record one view.
    """
    from django.conf import settings
    from django.core.cache import cache

    window = settings.TASK_VIEWED_WINDOW_SECONDS
    if not cache.add(f"hl:viewed:{user.pk}:{task.pk}", 1, timeout=window):
        return None
    matter = task.matter
    return record(
        name=names.TASK_VIEWED,
        firm_id=matter.firm_id,
        actor={"id": user.pk, "name": user.display_name},
        subject={"type": "task", "id": task.pk, "label": task.title},
        matter={"id": matter.pk, "label": f"{matter.number} {matter.name}"},
    )


# --- signal entry points ----------------------------------------------------------


def on_saved(instance: models.Model, *, created: bool, update_fields) -> None:
    model = type(instance)
    new = attname_image(instance)
    if created:
        old = None
    else:
        old = instance.__dict__.get("_hl_image")
        if old is None:
            old = instance.__dict__.pop("_hl_prefetched_image", None)
        if old is None:
            logger.warning(
                "%s %s saved with no loaded image; recording it as updated from "
                "an unknown state",
                model.__name__,
                instance.pk,
            )
            old = {}
        if update_fields:
            saved = {model._meta.get_field(f).attname for f in update_fields}
            new = {**old, **{k: v for k, v in new.items() if k in saved}}
    capture_images(model, [(old, new)], instances={instance.pk: instance})
    remember_image(instance, new)


def on_deleted(instance: models.Model) -> None:
    model = type(instance)
    image = attname_image(instance)
    capture_images(model, [(image, None)], instances={instance.pk: instance})
