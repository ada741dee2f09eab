"""Writing notifications: the rows reactions make, reading them, preferences.

`notify` writes one row per recipient and event inside the reaction's
transaction; after it commits, the recipient's open pages hear of it and
the email their preferences allow is queued.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from events_app.live import groups
from events_app.models import Notification, NotificationPreference
from events_app.notifications import email
from events_app.notifications.selectors import (
    notification_get_for_user,
    notification_queryset_for_user,
    notification_unread_count,
)
from events_app.text import clip
from hivelight.celery import app

logger = logging.getLogger(__name__)

Verb = Notification.Verb
SUMMARY_LENGTH = 300


@dataclass(frozen=True)
class Draft:
    """One notification before it is written: to whom, and what it says."""

    recipient_id: int
    verb: str
    summary: str
    url: str


@transaction.atomic
def notification_mark_read(*, user: Any, notification_id: int) -> Notification:
    notification = notification_get_for_user(user=user, notification_id=notification_id)
    if notification.read_at is None:
        notification.read_at = timezone.now()
        notification.save(update_fields=["read_at"])
        _push_unread_after_commit(user)
    return notification


@transaction.atomic
def notification_mark_all_read(*, user: Any, up_to_id: int | None = None) -> int:
    """Mark every unread notification read; with `up_to_id`, only those shown.

    A page lists notifications up to the newest it had; one that arrived
    since was never seen, so it stays unread.
    """
    unread = notification_queryset_for_user(user=user).filter(read_at__isnull=True)
    if up_to_id is not None:
        unread = unread.filter(pk__lte=up_to_id)
    count = unread.update(read_at=timezone.now())
    if count:
        _push_unread_after_commit(user)
    return count


@transaction.atomic
def preference_update(
    *, user: Any, email_on_assignment: bool, email_on_mention: bool
) -> NotificationPreference:
    preference, _ = NotificationPreference.objects.select_for_update().get_or_create(
        user_id=user.pk
    )
    preference.email_on_assignment = email_on_assignment
    preference.email_on_mention = email_on_mention
    preference.full_clean()
    preference.save()
    return preference


def notify(*, event: dict[str, Any], drafts: Iterable[Draft]) -> list[Notification]:
    """Write the event's notifications, at most one per recipient; return new ones.

    Must run inside the reaction's transaction: the pushes and emails wait
    for its commit, so nobody hears of a notification that was rolled back.
    An existing (event, recipient) row is left alone, so a repeated call
    notifies nobody twice.
    """
    matter = event.get("matter") or {}
    created: list[Notification] = []
    seen: set[int] = set()
    for draft in drafts:
        if draft.recipient_id in seen:
            continue
        seen.add(draft.recipient_id)
        notification, is_new = Notification.objects.get_or_create(
            event_id=event["id"],
            recipient_id=draft.recipient_id,
            defaults={
                "event_name": event["name"],
                "event": event,
                "verb": draft.verb,
                "summary": clip(draft.summary, SUMMARY_LENGTH),
                "url": draft.url,
                "matter_id": matter.get("id"),
            },
        )
        if is_new:
            created.append(notification)
    if created:
        ids = [n.pk for n in created]
        transaction.on_commit(lambda: _after_commit(ids), robust=True)
    return created


def open_url(notification: Notification) -> str:
    """The link that marks the notification read and goes to what it is about."""
    return reverse("notification_open", args=[notification.pk])


def _after_commit(notification_ids: list[int]) -> None:
    notifications = list(
        Notification.objects.filter(pk__in=notification_ids).select_related(
            "recipient", "recipient__membership"
        )
    )
    for notification in notifications:
        recipient = notification.recipient
        groups.send_to_user(
            recipient.pk,
            {
                "kind": "notification",
                "id": notification.pk,
                "unread": notification_unread_count(user=recipient),
                "text": notification.summary,
                "url": open_url(notification),
            },
        )
        if email.wants_email(notification):
            _queue_email(notification.pk)


def _push_unread_after_commit(user: Any) -> None:
    """Other open tabs of this user update their bell after a read."""

    def push() -> None:
        groups.send_to_user(
            user.pk, {"kind": "unread", "unread": notification_unread_count(user=user)}
        )

    transaction.on_commit(push, robust=True)


def _queue_email(notification_id: int) -> None:
    try:
        app.signature(email.EMAIL_TASK).delay(notification_id)
    except Exception:  # broker down: the notification is still in the app
        logger.warning(
            "email for notification %s not queued", notification_id, exc_info=True
        )
