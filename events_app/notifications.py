"""Notifications: the rows handlers make, what a person reads, and email.

Handlers (events_app.handlers) decide who hears about an event; `notify`
writes one row per recipient and event, then, after the handler's
transaction commits, pushes the new unread count to the recipient's open
pages and queues the email the recipient's preferences allow.

Reads are scoped twice: to the recipient, and to matters the recipient can
see now, so a wall put up after the fact hides what was said behind it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import Http404
from django.urls import reverse
from django.utils import timezone

from events_app import live
from events_app.models import Notification, NotificationPreference

logger = logging.getLogger(__name__)

Verb = Notification.Verb
# Only these reach the inbox; everything else ("quiet" changes: losing a
# task, a comment on a watched task) stays in the app.
EMAILED_VERBS = frozenset({Verb.ASSIGNED, Verb.MENTIONED})
SUMMARY_LENGTH = 300


@dataclass(frozen=True)
class Draft:
    """One notification before it is written: to whom, and what it says."""

    recipient_id: int
    verb: str
    summary: str
    url: str


# --- selectors --------------------------------------------------------------------


def notification_queryset_for_user(*, user: Any) -> QuerySet[Notification]:
    """The user's own notifications about matters they can see now."""
    from tasks_app.models import Matter
    from tasks_app.selectors import matter_visibility_q

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


# --- services ---------------------------------------------------------------------


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

    Must run inside the handler's transaction: the pushes and emails wait
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
                "summary": _clip(draft.summary, SUMMARY_LENGTH),
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


# --- after commit: live pages and email -------------------------------------------


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
        live.send_to_user(
            recipient.pk,
            {
                "kind": "notification",
                "id": notification.pk,
                "unread": notification_unread_count(user=recipient),
                "text": notification.summary,
                "url": open_url(notification),
            },
        )
        if wants_email(notification):
            _queue_email(notification.pk)


def _push_unread_after_commit(user: Any) -> None:
    """Other open tabs of this user update their bell after a read."""

    def push() -> None:
        live.send_to_user(
            user.pk, {"kind": "unread", "unread": notification_unread_count(user=user)}
        )

    transaction.on_commit(push, robust=True)


def wants_email(notification: Notification) -> bool:
    """Assignments and mentions, to an address, if the recipient wants them."""
    if notification.verb not in EMAILED_VERBS or not notification.recipient.email:
        return False
    preference = preference_for(user=notification.recipient)
    if notification.verb == Verb.ASSIGNED:
        return preference.email_on_assignment
    return preference.email_on_mention


def _queue_email(notification_id: int) -> None:
    try:
        send_notification_email.delay(notification_id)
    except Exception:  # broker down: the notification is still in the app
        logger.warning(
            "email for notification %s not queued", notification_id, exc_info=True
        )


@shared_task(
    name="events_app.notifications.send_notification_email",
    acks_late=True,
    ignore_result=True,
    max_retries=8,
    autoretry_for=(Exception,),
    retry_backoff=5,
    retry_backoff_max=600,
    retry_jitter=True,
)
def send_notification_email(notification_id: int) -> bool:
    """Email one notification, once: `emailed_at` marks it sent.

    The row is locked while sending, so two deliveries of this task cannot
    both send; a failure leaves `emailed_at` empty and Celery retries.
    Preferences are read again here, in case they changed since.
    """
    with transaction.atomic():
        notification = (
            Notification.objects.select_for_update(of=("self",))
            .select_related("recipient")
            .filter(pk=notification_id)
            .first()
        )
        if notification is None or notification.emailed_at is not None:
            return False
        if not wants_email(notification):
            return False
        send_mail(
            subject=_clip(notification.summary.splitlines()[0], 150),
            message=_email_body(notification),
            from_email=None,
            recipient_list=[notification.recipient.email],
        )
        notification.emailed_at = timezone.now()
        notification.save(update_fields=["emailed_at"])
    return True


def _email_body(notification: Notification) -> str:
    site = getattr(settings, "SITE_URL", "").rstrip("/")
    event = notification.event
    matter = (event.get("matter") or {}).get("label", "")
    lines = [f"Hello {notification.recipient.display_name},", "", notification.summary]
    if matter:
        lines += ["", f"Matter: {matter}"]
    lines += [
        "",
        f"Open it: {site}{notification.url}",
        "",
        "You can choose which emails you get on your notification settings "
        f"page: {site}{reverse('notification_preferences')}",
    ]
    return "\n".join(lines)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
