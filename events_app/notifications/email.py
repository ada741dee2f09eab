"""Notification emails: which ones go out, what they say, sending each once.

Emailed, when the recipient has an address and their preference allows:
assignments (and tasks handed over), mentions, review requests and their
answers, completions of tasks one created or watches, due-date reminders.
Losing a task and a comment on a watched task stay in the app. A firm admin
is always emailed when a webhook endpoint of the firm was turned off (the
firm's other systems stopped hearing its events, which is worth a mail).
The Celery task (events_app.tasks.send_notification_email, published by
name) calls `send`.
"""

from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from events_app.models import Notification
from events_app.notifications.selectors import preference_for
from events_app.text import clip

EMAIL_TASK = "events_app.tasks.send_notification_email"
Verb = Notification.Verb
# Which preference switches each emailed kind (None: always emailed).
PREFERENCE_OF = {
    Verb.ASSIGNED: "email_on_assignment",
    Verb.HANDED_OVER: "email_on_assignment",
    Verb.MENTIONED: "email_on_mention",
    Verb.REVIEW_REQUESTED: "email_on_review",
    Verb.APPROVED: "email_on_review",
    Verb.CHANGES_REQUESTED: "email_on_review",
    Verb.COMPLETED: "email_on_completion",
    Verb.REMINDER: "email_on_reminder",
    Verb.WEBHOOK_DISABLED: None,
}
EMAILED_VERBS = frozenset(PREFERENCE_OF)
SUBJECT_LENGTH = 150


def wants_email(notification: Notification) -> bool:
    """An emailed kind, to an address, if the recipient wants it."""
    if notification.verb not in EMAILED_VERBS or not notification.recipient.email:
        return False
    switch = PREFERENCE_OF[notification.verb]
    if switch is None:
        return True
    return bool(getattr(preference_for(user=notification.recipient), switch))


def send(notification_id: int) -> bool:
    """Email one notification, once: `emailed_at` marks it sent.

    The row is locked while sending, so two deliveries of the task cannot
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
            subject=clip(notification.summary.splitlines()[0], SUBJECT_LENGTH),
            message=body(notification),
            from_email=None,
            recipient_list=[notification.recipient.email],
        )
        notification.emailed_at = timezone.now()
        notification.save(update_fields=["emailed_at"])
    return True


def body(notification: Notification) -> str:
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
