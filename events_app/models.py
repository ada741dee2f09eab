"""The transactional outbox and the handlers' ledger.

An OutboxEvent row is written in the same transaction as the change it
describes, so a rolled-back change leaves no event and a committed one is
never lost: the relay stores it, then publishes it, and the sweeper retries
rows that did not make it. Rows are kept after delivery (a short audit of
what was relayed) and never dropped while undelivered.
"""

from __future__ import annotations

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
