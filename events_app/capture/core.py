"""Capture: rows' old and new images -> event envelopes -> outbox rows.

This is the one place where domain events are made. Signals and the tracked
queryset hand images here; the model's spec (`specs`) says how to describe
the change (`diff`); this module adds who (the event context, else the row's
`last_modified_by`), labels (so events are self-contained) and the tenant,
and enqueues the events in the current transaction. Labels are read in one
query per kind per batch, and not at all when the instance already holds
them.
"""

from __future__ import annotations

import datetime as dt
import decimal
import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

from django.contrib.auth import get_user_model
from django.db import models
from django.utils import timezone

from events_app import context, envelope, text
from events_app.capture import diff
from events_app.capture.tracking import attname_image, loaded_image, remember_image
from events_app.outbox.enqueue import enqueue

logger = logging.getLogger(__name__)

AttImage = dict[str, Any]
LABEL_LENGTH = 80


# `Spec.matter_path` for a row that is itself the matter.
SELF = "self"


@dataclass(frozen=True)
class Spec:
    """How one tracked model becomes events."""

    subject_type: str
    describe: Callable[[diff.Image | None, diff.Image | None], list[diff.Draft]]
    # The field whose text labels the subject (a person's field: their
    # name); None: the matter's label.
    label_field: str | None
    # Field name of the matter, of the parent task whose matter is used,
    # SELF for the matter itself, or None for a row of the firm's (then
    # `firm_field` names the firm).
    matter_path: str | None
    parent_type: str | None = None
    parent_attname: str | None = None
    # Field name of the subject's id: the row's own, or (team rows) the
    # matter's, so a team change is an event about the matter.
    subject_field: str = "id"
    firm_field: str | None = None


class LabelSource(Protocol):
    """Reads the labels events carry, a batch of ids at a time (see specs)."""

    def users(self, ids: set[int]) -> dict[int, str]: ...
    def matters(self, ids: set[int]) -> dict[int, dict[str, Any]]: ...
    def milestones(self, ids: set[int]) -> dict[int, str]: ...
    def tasks(self, ids: set[int]) -> dict[int, dict[str, Any]]: ...


SPECS: dict[type[models.Model], Spec] = {}
_sources: list[LabelSource] = []


def register(model: type[models.Model], spec: Spec) -> None:
    SPECS[model] = spec


def use_labels(source: LabelSource) -> None:
    """Where labels come from (the domain's, set once when the app is ready)."""
    _sources[:] = [source]


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


@cache
def _user_fields(model: type[models.Model]) -> frozenset[str]:
    user_model = get_user_model()
    return frozenset(
        f.name
        for f in model._meta.concrete_fields
        if f.is_relation and f.related_model is user_model
    )


# --- labels -------------------------------------------------------------------


class _Labels:
    """The labels a batch of events needs, each kind read once."""

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
        (source,) = _sources
        missing_tasks = task_ids - self.tasks.keys()
        if missing_tasks:
            self.tasks.update(source.tasks(missing_tasks))
        matter_ids = matter_ids | {
            self.tasks[pk]["matter_id"] for pk in task_ids if pk in self.tasks
        }
        for ids, known, read in (
            (user_ids, self.users, source.users),
            (matter_ids, self.matters, source.matters),
            (milestone_ids, self.milestones, source.milestones),
        ):
            missing = ids - known.keys()
            if missing:
                known.update(read(missing))

    def remember_instance(self, instance: models.Model) -> None:
        """Take relations the instance already holds, to save queries."""
        held = getattr(instance._state, "fields_cache", {})
        matter = held.get("matter")
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
        task = held.get("task")
        if task is not None:
            self.tasks.setdefault(
                task.pk,
                {"id": task.pk, "title": task.title, "matter_id": task.matter_id},
            )
            self.remember_instance(task)
        for name in ("assignee", "author", "last_modified_by"):
            user = held.get(name)
            if user is not None:
                self.users.setdefault(user.pk, user.display_name)
        milestone = held.get("milestone")
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
        for draft in drafts:
            for key, values in draft.changes.items():
                if key in user_fields:
                    user_ids.update(v for v in values if v)
                elif key == "milestone":
                    milestone_ids.update(v for v in values if v)
        if spec.label_field in user_fields and image.get(spec.label_field):
            user_ids.add(image[spec.label_field])
        if spec.matter_path is None:
            pass
        elif spec.matter_path == SELF:
            # The matter itself: its new values label it (a rename included).
            labels.matters[image["id"]] = {
                "id": image["id"],
                "firm_id": image.get("firm"),
                "number": image.get("number"),
                "name": image.get("name"),
            }
        elif spec.matter_path == "matter":
            matter_ids.add(image["matter"])
        else:
            task_ids.add(image[spec.matter_path])
        if spec.subject_type == "milestone":
            milestone_ids.add(image["id"])
    labels.load(
        user_ids=user_ids,
        matter_ids=matter_ids,
        milestone_ids=milestone_ids,
        task_ids=task_ids,
    )

    now = ctx.occurred_at or timezone.now()
    context_dict = context_of(ctx)
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
        elif spec.matter_path == SELF:
            matter_id = image["id"]
        elif spec.matter_path is None:
            matter_id = None
        else:
            matter_id = image["matter"]
        matter_row = labels.matters.get(matter_id) or {}
        firm_id = (
            image.get(spec.firm_field) if spec.firm_field else matter_row.get("firm_id")
        )
        matter = labels.matter(matter_id)
        if spec.label_field is None:
            label = (matter or {}).get("label")
        elif spec.label_field in user_fields:
            label = (labels.user(image.get(spec.label_field)) or {}).get("name")
        else:
            label = image.get(spec.label_field)
        subject = {
            "type": spec.subject_type,
            "id": image[spec.subject_field],
            "label": text.clip(str(label or ""), LABEL_LENGTH),
        }
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
            if (
                draft.name.endswith(".deleted")
                or draft.occurred_at is None
                or ctx.occurred_at is not None
            ):
                occurred_at = now
            events.append(
                envelope.build(
                    name=draft.name,
                    occurred_at=occurred_at,
                    firm_id=firm_id,
                    actor=actor,
                    subject=subject,
                    matter=matter,
                    changes=changes,
                    context=context_dict,
                    parent=parent,
                )
            )
    enqueue(events)
    return events


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


def context_of(ctx: context.EventContext) -> dict[str, Any]:
    """The envelope's `context`: where the change came from."""
    data = {"source": ctx.source, "request_id": ctx.request_id}
    if ctx.caused_by:
        data["caused_by"] = ctx.caused_by
    if ctx.client_id:
        data["client_id"] = ctx.client_id
    if ctx.reason:
        data["reason"] = ctx.reason
    if ctx.occurred_at is not None:
        # Backdated (the demo's history): when it was really written.
        data[envelope.RECORDED_AT] = envelope.isoformat(timezone.now())
    return data


# --- from the signals -------------------------------------------------------------


def on_saved(instance: models.Model, *, created: bool, update_fields) -> None:
    model = type(instance)
    new = attname_image(instance)
    if created:
        old = None
    else:
        old = loaded_image(instance)
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
