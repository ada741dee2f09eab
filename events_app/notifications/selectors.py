"""Reading notifications: a person's own, about matters they can see now.

Scoped twice: to the recipient, and to matters the recipient can see today,
so a wall put up after the fact hides what was said behind it.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from django.http import Http404

from events_app.models import Notification, NotificationPreference
from tasks_app.models import Matter
from tasks_app.selectors import matter_visibility_q


def notification_queryset_for_user(*, user: Any) -> QuerySet[Notification]:
    """The user's own notifications about matters they can see now."""
    if not user.is_authenticated:
        return Notification.objects.none()
    visible = Matter.objects.filter(matter_visibility_q(user)).values("pk")
    return Notification.objects.filter(recipient=user).filter(
        Q(matter_id__isnull=True) | Q(matter_id__in=visible)
    )


def notification_list_for_user(
    *, user: Any, unread_only: bool = False
) -> QuerySet[Notification]:
    """Newest first."""
    notifications = notification_queryset_for_user(user=user)
    if unread_only:
        notifications = notifications.filter(read_at__isnull=True)
    return notifications.order_by("-created_at", "-id")


def notification_unread_count(*, user: Any) -> int:
    return (
        notification_queryset_for_user(user=user).filter(read_at__isnull=True).count()
    )


def notification_get_for_user(*, user: Any, notification_id: int) -> Notification:
    """The user's notification, or Http404 (another user's id does not exist)."""
    notification = (
        notification_queryset_for_user(user=user).filter(pk=notification_id).first()
    )
    if notification is None:
        raise Http404("No such notification.")
    return notification


def preference_for(*, user: Any) -> NotificationPreference:
    """The user's email preferences; the defaults (both on) if never saved."""
    found = NotificationPreference.objects.filter(user_id=user.pk).first()
    return found or NotificationPreference(user_id=user.pk)
