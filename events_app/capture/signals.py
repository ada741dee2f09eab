"""Signal receivers: thin. Take the images, hand them to `core` or `records`.

Model signals see every write path (services, the admin, the shell, data
migrations); bulk paths send `tracking.rows_written`. Auth signals give the
login events.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth import signals as auth_signals
from django.db.models import signals

from events_app import names
from events_app.capture import core, records
from events_app.capture.tracking import (
    attname_image,
    loaded_image,
    remember_image,
    rows_written,
)
from events_app.envelope import SYSTEM_ACTOR


def _on_pre_save(sender, instance, raw=False, **kwargs: Any) -> None:
    if raw or not core.is_tracked(sender):
        return
    # An instance built in Python with a pk (not loaded) may be an update:
    # read its row once so the change is still diffed, never skipped.
    if loaded_image(instance) is None and instance.pk is not None:
        row = sender._base_manager.filter(pk=instance.pk).first()
        if row is not None:
            remember_image(instance, attname_image(row))


def _on_post_save(
    sender, instance, created, update_fields, raw=False, **kwargs
) -> None:
    if raw or not core.is_tracked(sender):
        return
    core.on_saved(instance, created=created, update_fields=update_fields)


def _on_post_delete(sender, instance, **kwargs: Any) -> None:
    if core.is_tracked(sender):
        core.on_deleted(instance)


def _on_rows_written(sender, pairs, **kwargs: Any) -> None:
    core.capture_rows(sender, pairs)


def _firm_of(user) -> int | None:
    membership = getattr(user, "membership", None) if user is not None else None
    return membership.firm_id if membership else None


def _user_subject(user) -> dict[str, Any]:
    return {"type": "user", "id": user.pk, "label": user.get_username()}


def _on_logged_in(sender, request, user, **kwargs: Any) -> None:
    records.record(
        name=names.USER_LOGGED_IN,
        firm_id=_firm_of(user),
        actor={"id": user.pk, "name": user.display_name},
        subject=_user_subject(user),
    )


def _on_logged_out(sender, request, user, **kwargs: Any) -> None:
    if user is None:
        return
    records.record(
        name=names.USER_LOGGED_OUT,
        firm_id=_firm_of(user),
        actor={"id": user.pk, "name": user.display_name},
        subject=_user_subject(user),
    )


def _on_login_failed(sender, credentials, request=None, **kwargs: Any) -> None:
    # Django already masks secrets in `credentials`; keep only the username.
    username = str(credentials.get("username", ""))[:150]
    user_model = get_user_model()
    user = (
        user_model.objects.filter(username=username)
        .select_related("membership")
        .first()
        if username
        else None
    )
    records.record(
        name=names.USER_LOGIN_FAILED,
        firm_id=_firm_of(user),
        actor=dict(SYSTEM_ACTOR),
        subject={"type": "user", "id": user.pk if user else None, "label": username},
        changes={"username": [None, username]},
    )


def connect() -> None:
    signals.pre_save.connect(_on_pre_save, dispatch_uid="hl_pre_save")
    signals.post_save.connect(_on_post_save, dispatch_uid="hl_post_save")
    signals.post_delete.connect(_on_post_delete, dispatch_uid="hl_post_delete")
    rows_written.connect(_on_rows_written, dispatch_uid="hl_rows_written")
    auth_signals.user_logged_in.connect(_on_logged_in, dispatch_uid="hl_logged_in")
    auth_signals.user_logged_out.connect(_on_logged_out, dispatch_uid="hl_logged_out")
    auth_signals.user_login_failed.connect(_on_login_failed, dispatch_uid="hl_failed")
