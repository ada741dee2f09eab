"""The transactional outbox, the handlers' ledger, notifications, webhooks.

An OutboxEvent row is written in the same transaction as the change it
describes, so a rolled-back change leaves no event and a committed one is
never lost: the relay stores it, then publishes it, and the sweeper retries
rows that did not make it. Rows are kept for PIPELINE_RETENTION_DAYS after
delivery (a week's look at what was relayed; `outbox/retention.py`) and
never dropped while undelivered.

Beyond the app: a firm's webhook endpoints, one delivery row per (event,
endpoint) with every attempt, and the entries waiting for Amazon
EventBridge. Delivery rows and EventBridge entries are written in the
relay's transaction, so a dispatched event never misses one.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

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
        WEBHOOK_DISABLED = "webhook_disabled", "Webhook turned off"

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


class WebhookEndpoint(models.Model):
    """Where a firm wants its events sent: a URL, the names it wants, a secret.

    Only the firm's admins manage it (events_app.webhooks). The secret signs
    every delivery (Standard Webhooks); after a rotation the previous one
    keeps signing too until `previous_secret_expires_at`, so receivers can
    switch without losing a delivery. Secrets are kept as they are: signing
    needs them, and they are never shown again after creation or rotation.
    """

    firm = models.ForeignKey(
        "tasks_app.Firm", on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    url = models.CharField(max_length=2000)
    description = models.CharField(max_length=200, blank=True)
    # Bus patterns (`task.completed`, `task.*`, `*`).
    event_patterns = models.JSONField(default=list)
    is_enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=300, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    secret = models.CharField(max_length=100)
    previous_secret = models.CharField(max_length=100, blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    # Since when every attempt has failed (None: the last one succeeded).
    failing_since = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["firm", "id"]
        indexes = [models.Index(fields=["firm", "is_enabled"], name="webhook_firm")]

    def __str__(self) -> str:
        return self.description or self.url

    @property
    def label(self) -> str:
        """What people call it: the description, else the URL's host."""
        return self.description or urlsplit(self.url).hostname or self.url


class WebhookDelivery(models.Model):
    """One event for one endpoint: sent until a 2xx, retried on a schedule.

    The payload is the envelope as it will be sent; `webhook-id` is the
    event's id, the same on every attempt and resend, so a receiver can
    de-duplicate. An attempt in flight holds `lease_until`; a worker that
    died mid-send lets the lease lapse and the sweeper sends again.
    """

    # Set by webhooks.selectors.mark_withheld: of a matter walled since.
    withheld = False

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event_id = models.UUIDField()
    event_name = models.CharField(max_length=64)
    payload = models.JSONField()
    is_test = models.BooleanField(default=False)
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.PENDING
    )
    # Attempts in this round (a resend starts a new round; WebhookAttempt
    # rows keep them all).
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    lease_until = models.DateTimeField(null=True, blank=True)
    # The first attempt of this round: the endpoint is turned off when a
    # round ends with nothing succeeding on it since then.
    first_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "event_id"], name="webhook_delivery_once"
            )
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status="pending"),
                name="webhook_due",
            ),
            models.Index(fields=["endpoint", "-id"], name="webhook_recent"),
            models.Index(
                fields=["endpoint", "lease_until"],
                condition=Q(lease_until__isnull=False),
                name="webhook_in_flight",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_name} {self.event_id} -> {self.endpoint_id}"

    @property
    def payload_json(self) -> str:
        return json.dumps(self.payload, indent=2, ensure_ascii=False)


class WebhookAttempt(models.Model):
    """One HTTP attempt of a delivery, as the endpoint's page shows it."""

    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log"
    )
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(default=0)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    succeeded = models.BooleanField(default=False)
    # The start of the receiver's answer, capped (WEBHOOK_RESPONSE_EXCERPT_CHARS).
    response_excerpt = models.TextField(blank=True)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.delivery_id} at {self.started_at}: {self.status_code}"


class EventBridgeEntry(models.Model):
    """A stored event waiting to be put on Amazon EventBridge (when configured).

    Written in the relay's transaction; sent in batches of ten by a Celery
    task after commit and by beat. An entry EventBridge refused (the whole
    call or that entry alone) is tried again with a backoff, never dropped.
    """

    seq = models.BigAutoField(primary_key=True)
    event_id = models.UUIDField(unique=True)
    payload = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["seq"]
        verbose_name_plural = "EventBridge entries"
        indexes = [
            models.Index(
                fields=["next_attempt_at", "seq"],
                condition=Q(sent_at__isnull=True),
                name="eventbridge_due",
            )
        ]

    def __str__(self) -> str:
        return f"{self.payload.get('name')} {self.event_id}"


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
