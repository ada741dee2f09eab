"""The transactional outbox, the handlers' ledger, and notifications.

An OutboxEvent row is written in the same transaction as the change it
describes, so a rolled-back change leaves no event and a committed one is
never lost: the relay stores it, then publishes it, and the sweeper retries
rows that did not make it. Rows are kept after delivery (a short audit of
what was relayed) and never dropped while undelivered.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class OutboxEvent(models.Model):
    """One event waiting to be stored and published (or already done)."""

    seq = models.BigAutoField(primary_key=True)
    event_id = models.UUIDField(unique=True)
    name = models.CharField(max_length=64)
    firm = models.CharField(max_length=32)
    # "task:1234": events of one entity are stored and published in order.
    entity_key = models.CharField(max_length=80)
    payload = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)
    stored_at = models.DateTimeField(null=True, blank=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["seq"]
        indexes = [
            models.Index(
                fields=["next_attempt_at", "seq"],
                condition=Q(dispatched_at__isnull=True),
                name="outbox_pending",
            ),
            models.Index(
                fields=["entity_key", "seq"],
                condition=Q(dispatched_at__isnull=True),
                name="outbox_pending_entity",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.event_id}"

    @property
    def is_delivered(self) -> bool:
        return self.dispatched_at is not None


class HandlerRun(models.Model):
    """A handler has applied an event: the guard that makes effects happen once."""

    event_id = models.UUIDField()
    handler = models.CharField(max_length=120)
    event_name = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["event_id", "handler"], name="handler_once")
        ]

    def __str__(self) -> str:
        return f"{self.handler} <- {self.event_name} {self.event_id}"


class Notification(models.Model):
    """Something a person should know about, made by a handler from one event.

    A row keeps the event's envelope, so the page can always say what
    happened even after the task is gone. At most one row exists per event
    and recipient (the constraint), however often the event is delivered.
    `matter_id` is copied from the event so lists can hide notifications of
    matters the recipient can no longer see (a wall put up later).
    """

    class Verb(models.TextChoices):
        ASSIGNED = "assigned", "Assigned to you"
        UNASSIGNED = "unassigned", "No longer yours"
        MENTIONED = "mentioned", "Mentioned you"
        COMMENTED = "commented", "Commented"
        HANDED_OVER = "handed_over", "Handed to you"
        AUDITED = "audited", "Record read"
        REVIEW_REQUESTED = "review_requested", "Review requested"
        APPROVED = "approved", "Approved"
        CHANGES_REQUESTED = "changes_requested", "Changes requested"
        COMPLETED = "completed", "Completed"
        REMINDER = "reminder", "Reminder"

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="notifications",
    )
    event_id = models.UUIDField()
    event_name = models.CharField(max_length=64)
    event = models.JSONField(help_text="The event envelope this notification is about.")
    verb = models.CharField(max_length=20, choices=Verb.choices)
    summary = models.CharField(max_length=300)
    url = models.CharField(max_length=300, blank=True)
    matter_id = models.BigIntegerField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    # Set once the email went out, so a retried email task never sends twice.
    emailed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["event_id", "recipient"], name="notification_once"
            )
        ]
        indexes = [
            models.Index(fields=["recipient", "-created_at"], name="notif_recent"),
            models.Index(
                fields=["recipient"],
                condition=Q(read_at__isnull=True),
                name="notif_unread",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.recipient_id}: {self.summary}"

    @property
    def is_read(self) -> bool:
        return self.read_at is not None


class NotificationPreference(models.Model):
    """What a person wants by email; the in-app notification always exists."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="notification_preference",
    )
    email_on_assignment = models.BooleanField(
        default=True, help_text="Email me when a task is assigned to me."
    )
    email_on_mention = models.BooleanField(
        default=True, help_text="Email me when someone @mentions me in a comment."
    )
    email_on_review = models.BooleanField(
        default=True,
        help_text="Email me when my review is asked for, or my work is approved "
        "or returned.",
    )
    email_on_completion = models.BooleanField(
        default=False,
        help_text="Email me when a task I created or watch is completed.",
    )
    email_on_reminder = models.BooleanField(
        default=True, help_text="Email me when a task of mine is due or overdue."
    )
    email_digest = models.BooleanField(
        default=True,
        help_text="A morning email: due today, overdue, waiting for my review.",
    )

    def __str__(self) -> str:
        return f"Notification preferences of {self.user_id}"


class ReminderSent(models.Model):
    """A due-date reminder went out: at most one per task, due date and kind.

    The unique constraint makes the scheduled job idempotent across reruns
    and worker restarts; a changed due date is a new reminder.
    """

    class Kind(models.TextChoices):
        DUE_SOON = "due_soon", "Due tomorrow"
        OVERDUE = "overdue", "Overdue"
        ESCALATED = "escalated", "Overdue, told to the responsible partner"

    task = models.ForeignKey(
        "tasks_app.Task", on_delete=models.CASCADE, related_name="+"
    )
    due_date = models.DateField()
    kind = models.CharField(max_length=12, choices=Kind.choices)
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    event_id = models.UUIDField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["task", "due_date", "kind"], name="reminder_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.task_id} {self.due_date}"


class DigestSent(models.Model):
    """A person's morning digest for one of their local days went out."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    local_date = models.DateField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "local_date"], name="digest_once")
        ]

    def __str__(self) -> str:
        return f"digest {self.user_id} {self.local_date}"
