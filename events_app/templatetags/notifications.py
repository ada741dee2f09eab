"""Template tags of notifications: the bell on every page, the watch button."""

from __future__ import annotations

from typing import Any

from django import template
from django.template import Context

from events_app.notifications.selectors import notification_unread_count

register = template.Library()


@register.inclusion_tag(
    "events_app/partials/notification_bell.html", takes_context=True
)
def notification_bell(context: Context) -> dict[str, Any]:
    """The bell with the signed-in user's unread count (one COUNT query)."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"hide": True}
    return {"unread": notification_unread_count(user=user)}


@register.inclusion_tag("events_app/partials/watch_button.html", takes_context=True)
def watch_button(context: Context, task: Any) -> dict[str, Any]:
    """Watch / stop watching a task, for the signed-in user."""
    from tasks_app.models import TaskWatch

    request = context.get("request")
    user = getattr(request, "user", None)
    watching = bool(
        user is not None
        and user.is_authenticated
        and TaskWatch.objects.filter(task_id=task.pk, user_id=user.pk).exists()
    )
    return {
        "task_id": task.pk,
        "watching": watching,
        "csrf_token": context.get("csrf_token"),
    }
