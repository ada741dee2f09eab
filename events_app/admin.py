"""Admin for the pipeline's rows: outbox, handler ledger, notifications, webhooks.

Outbox rows and ledger rows are written by the pipeline only; the admin
shows them (what waits, what fails and why) but never edits them, since an
edited outbox row would be stored as an event nobody made. Webhook
endpoints are managed by firm admins in the app (events_app.webhooks, with
its checks and audit trail); here support only looks, and never at secrets.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import HttpRequest

from events_app.models import (
    EventBridgeEntry,
    HandlerRun,
    Notification,
    NotificationPreference,
    OutboxEvent,
    WebhookDelivery,
    WebhookEndpoint,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """List and inspect; no adding, changing or deleting."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class DeliveryFilter(admin.SimpleListFilter):
    title = "delivery"
    parameter_name = "delivery"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("pending", "Pending (not yet dispatched)"),
            ("failing", "Failing (pending, with an error)"),
            ("delivered", "Delivered"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        pending = Q(dispatched_at__isnull=True)
        if self.value() == "pending":
            return queryset.filter(pending)
        if self.value() == "failing":
            return queryset.filter(pending & ~Q(last_error=""))
        if self.value() == "delivered":
            return queryset.filter(dispatched_at__isnull=False)
        return queryset


@admin.register(OutboxEvent)
class OutboxEventAdmin(ReadOnlyAdmin):
    list_display = (
        "name",
        "firm",
        "created_at",
        "stored_at",
        "dispatched_at",
        "attempts",
        "short_error",
    )
    list_filter = (DeliveryFilter, "name")
    search_fields = ("event_id", "entity_key", "name")
    date_hierarchy = "created_at"
    ordering = ("-seq",)

    @admin.display(description="last error")
    def short_error(self, row: OutboxEvent) -> str:
        return row.last_error[:120]


@admin.register(HandlerRun)
class HandlerRunAdmin(ReadOnlyAdmin):
    list_display = ("handler", "event_name", "event_id", "created_at")
    list_filter = ("handler", "event_name")
    search_fields = ("event_id", "handler")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)


class ReadFilter(admin.SimpleListFilter):
    title = "read"
    parameter_name = "read"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("no", "Unread"), ("yes", "Read")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "no":
            return queryset.filter(read_at__isnull=True)
        if self.value() == "yes":
            return queryset.filter(read_at__isnull=False)
        return queryset


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    """Support can see what someone was told and whether it was emailed."""

    list_display = (
        "recipient",
        "verb",
        "summary",
        "event_name",
        "created_at",
        "read_at",
        "emailed_at",
    )
    list_filter = (ReadFilter, "verb", "event_name")
    list_select_related = ("recipient",)
    search_fields = ("recipient__username", "summary", "event_id")
    date_hierarchy = "created_at"


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(admin.ModelAdmin):
    list_display = ("user", "email_on_assignment", "email_on_mention")
    list_select_related = ("user",)
    search_fields = ("user__username",)
    raw_id_fields = ("user",)


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "firm", "is_enabled", "failing_since", "created_at")
    list_filter = ("is_enabled",)
    list_select_related = ("firm",)
    search_fields = ("url", "description", "firm__name")
    exclude = ("secret", "previous_secret")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = (
        "event_name",
        "endpoint",
        "status",
        "attempts",
        "last_status_code",
        "next_attempt_at",
        "created_at",
    )
    list_filter = ("status", "is_test", "event_name")
    list_select_related = ("endpoint",)
    search_fields = ("event_id",)
    date_hierarchy = "created_at"


@admin.register(EventBridgeEntry)
class EventBridgeEntryAdmin(ReadOnlyAdmin):
    """What waits for EventBridge, and why (the last error)."""

    list_display = ("__str__", "created_at", "sent_at", "attempts", "last_error")
    search_fields = ("event_id",)
    date_hierarchy = "created_at"
    ordering = ("-seq",)
