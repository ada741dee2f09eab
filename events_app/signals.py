"""Signal receivers: thin. Take the images, hand them to `capture`.

Model signals see every write path (services, the admin, the shell, data
migrations); bulk paths are covered by `tracking.TrackedQuerySet`.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import signals as auth_signals
from django.db.models import signals

from events_app import capture, names
from events_app.envelope import SYSTEM_ACTOR
from events_app.tracking import attname_image


def _on_pre_save(sender, instance, raw=False, **kwargs: Any) -> None:
    if raw or not capture.is_tracked(sender):
        return
    # An instance built in Python with a pk (not loaded) may be an update:
    # fetch its row once so the change is still diffed, never skipped.
    if "_hl_image" not in instance.__dict__ and instance.pk is not None:
        row = sender._base_manager.filter(pk=instance.pk).first()
        if row is not None:
            instance.__dict__["_hl_prefetched_image"] = attname_image(row)


def _on_post_save(
    sender, instance, created, update_fields, raw=False, **kwargs
) -> None:
    if raw or not capture.is_tracked(sender):
        return
    capture.on_saved(instance, created=created, update_fields=update_fields)


def _on_post_delete(sender, instance, **kwargs: Any) -> None:
    if capture.is_tracked(sender):
        capture.on_deleted(instance)


def _on_related_pre_delete(sender, instance, **kwargs: Any) -> None:
    """Deleting a milestone or user clears it on tasks with no signal; record that."""
    from tasks_app.models import Milestone, Task, User

    field = {Milestone: "milestone_id", User: "assignee_id"}.get(sender)
    if field is None:
        return
    pairs = []
    for task in Task.objects.filter(**{field: instance.pk}):
        old = attname_image(task)
        pairs.append((old, {**old, field: None}))
    if pairs:
        capture.capture_images(Task, pairs)


def _on_matter_changed(sender, instance, **kwargs: Any) -> None:
    capture.forget_matter(instance.pk)


def _firm_of(user) -> int | None:
    membership = getattr(user, "membership", None) if user is not None else None
    return membership.firm_id if membership else None


def _user_subject(user) -> dict[str, Any]:
    return {"type": "user", "id": user.pk, "label": user.get_username()}


def _on_logged_in(sender, request, user, **kwargs: Any) -> None:
    capture.record(
        name=names.USER_LOGGED_IN,
        firm_id=_firm_of(user),
        actor={"id": user.pk, "name": user.display_name},
        subject=_user_subject(user),
    )


def _on_logged_out(sender, request, user, **kwargs: Any) -> None:
    if user is None:
        return
    capture.record(
        name=names.USER_LOGGED_OUT,
        firm_id=_firm_of(user),
        actor={"id": user.pk, "name": user.display_name},
        subject=_user_subject(user),
    )


def _on_login_failed(sender, credentials, request=None, **kwargs: Any) -> None:
    from tasks_app.models import User

    # Django already masks secrets in `credentials`; keep only the username.
    username = str(credentials.get("username", ""))[:150]
    user = (
        User.objects.filter(username=username).select_related("membership").first()
        if username
        else None
    )
    capture.record(
        name=names.USER_LOGIN_FAILED,
        firm_id=_firm_of(user),
        actor=dict(SYSTEM_ACTOR),
        subject={"type": "user", "id": user.pk if user else None, "label": username},
        changes={"username": [None, username]},
    )


def connect() -> None:
    from tasks_app.models import Matter, Milestone, User

    signals.post_save.connect(
        _on_matter_changed, sender=Matter, dispatch_uid="hl_matter"
    )
    signals.post_delete.connect(
        _on_matter_changed, sender=Matter, dispatch_uid="hl_matter_del"
    )
    signals.pre_save.connect(_on_pre_save, dispatch_uid="hl_pre_save")
    signals.post_save.connect(_on_post_save, dispatch_uid="hl_post_save")
    signals.post_delete.connect(_on_post_delete, dispatch_uid="hl_post_delete")
    for model in (Milestone, User):
        signals.pre_delete.connect(
            _on_related_pre_delete, sender=model, dispatch_uid=f"hl_pre_delete_{model}"
        )
    auth_signals.user_logged_in.connect(_on_logged_in, dispatch_uid="hl_logged_in")
    auth_signals.user_logged_out.connect(_on_logged_out, dispatch_uid="hl_logged_out")
    auth_signals.user_login_failed.connect(_on_login_failed, dispatch_uid="hl_failed")
