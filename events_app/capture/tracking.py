"""Tracked models: every write path of a tracked model reports its rows' images.

`TrackedModel.from_db` keeps the row as loaded (the old image), so capture
pays no extra SELECT per save. `TrackedQuerySet` makes the paths that fire
no model signal (`update`, `bulk_update`, `bulk_create`) send `rows_written`
with (old image, new row) pairs, fetching old images in one query; capture
turns them into the same events as saving rows one by one. `bulk_update`
needs no override: Django runs it as `filter(pk__in=...).update(...)` per
batch, which is tracked. Queryset `delete()` needs nothing here: with delete
receivers connected, Django's collector loads the rows and sends
`post_delete` for each.

This module knows nothing of events: the domain's models import it, and
capture listens to it. It reads the event context only for its time: a
backdated save (the demo seed) stamps its rows with that time.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import models, transaction
from django.dispatch import Signal

from events_app import context

# Sent by TrackedQuerySet inside the write's transaction, with `pairs`: a
# list of (old attname image or None, the row as written).
rows_written = Signal()

_IMAGE = "_hl_image"


def attname_image(instance: models.Model) -> dict[str, Any]:
    """The instance's current values by attname, skipping deferred fields."""
    values = instance.__dict__
    return {
        f.attname: values[f.attname]
        for f in instance._meta.concrete_fields
        if f.attname in values
    }


def loaded_image(instance: models.Model) -> dict[str, Any] | None:
    """The row as it was last loaded or saved, if the instance has one."""
    return instance.__dict__.get(_IMAGE)


def remember_image(instance: models.Model, image: dict[str, Any] | None) -> None:
    instance.__dict__[_IMAGE] = image


class TrackedQuerySet(models.QuerySet):
    """Bulk writes that report their rows like one-by-one saves would."""

    def update(self, **kwargs: Any) -> int:
        with transaction.atomic(using=self.db):
            old_rows = {
                row.pk: attname_image(row)
                for row in self.select_for_update().order_by("pk")
            }
            if not old_rows:
                return 0
            count = super().update(**kwargs)
            new_rows = self.model._base_manager.using(self.db).filter(
                pk__in=list(old_rows)
            )
            rows_written.send(
                sender=self.model, pairs=[(old_rows[row.pk], row) for row in new_rows]
            )
        return count

    update.alters_data = True

    def bulk_create(self, objs: Iterable[models.Model], *args: Any, **kwargs: Any):
        if kwargs.get("ignore_conflicts") or kwargs.get("update_conflicts"):
            raise NotImplementedError(
                f"{self.model.__name__}.objects.bulk_create with conflict handling "
                "would skip history; save rows through the services instead."
            )
        with transaction.atomic(using=self.db):
            created = super().bulk_create(objs, *args, **kwargs)
            if any(o.pk is None for o in created):
                raise NotImplementedError(
                    "bulk_create on this database does not return primary keys; "
                    "events cannot be recorded for the new rows."
                )
            rows_written.send(sender=self.model, pairs=[(None, o) for o in created])
            for obj in created:
                remember_image(obj, attname_image(obj))
        return created

    bulk_create.alters_data = True


class TrackedManager(models.Manager.from_queryset(TrackedQuerySet)):
    pass


class TrackedModel(models.Model):
    """Abstract base: keeps the loaded row so a save can be diffed."""

    objects = TrackedManager()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        adding = self._state.adding
        super().save(*args, **kwargs)
        at = context.current().occurred_at
        if at is not None:
            _stamp_history(self, at, adding=adding)

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        remember_image(instance, attname_image(instance))
        return instance

    def refresh_from_db(self, *args: Any, **kwargs: Any) -> None:
        super().refresh_from_db(*args, **kwargs)
        remember_image(self, attname_image(self))


def _stamp_history(instance: TrackedModel, at: Any, *, adding: bool) -> None:
    """A backdated save (`acting_as(at=)`, the demo seed): the row's automatic
    timestamps say `at` too, so pages agree with the history.

    Django stamps `auto_now` fields with the wall clock inside `save`, so
    they are rewritten here, through the plain manager: timestamps are
    control fields, not changes to record.
    """
    stamps = {
        f.attname: at
        for f in instance._meta.concrete_fields
        if getattr(f, "auto_now", False)
        or (adding and getattr(f, "auto_now_add", False))
    }
    if not stamps:
        return
    type(instance)._base_manager.filter(pk=instance.pk).update(**stamps)
    instance.__dict__.update(stamps)
    image = loaded_image(instance)
    if image is not None:
        remember_image(instance, {**image, **stamps})
