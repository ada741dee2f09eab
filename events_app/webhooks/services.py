"""A firm admin's actions on webhooks: endpoints, secrets, tests, resends.

Keyword-only, atomic, permission-checked through `selectors` (another
firm's endpoint: 404; not a firm admin: 403), validated (`full_clean`, and
the URL through the same guard as sending). Each change to an endpoint is
recorded as an event (`webhook.endpoint_created`, ...), so the firm's audit
shows who sent its events where, and when.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from events_app import bus, context, envelope, names
from events_app.capture.core import context_of
from events_app.capture.records import record
from events_app.models import WebhookDelivery, WebhookEndpoint
from events_app.webhooks import attempts, selectors, signing
from events_app.webhooks.delivery import UnsafeDestination, destination

Status = WebhookDelivery.Status
MAX_PATTERNS = 30
# The bus's syntax: names of letters, digits and underscores, dotted, `*`.
PATTERN_SHAPE = re.compile(r"^[a-z0-9_*]+(\.[a-z0-9_*]+)*$")
SENDABLE = sorted(names.ALL - names.NEVER_RECORDED)


# --- validation (the forms use these too) ----------------------------------------


def clean_url(url: str) -> str:
    """The URL if Hivelight may send to it now, else a ValidationError saying why."""
    url = (url or "").strip()
    if not url:
        raise ValidationError("Enter the URL to send events to.")
    if len(url) > 2000:
        raise ValidationError("The URL is longer than 2,000 characters.")
    try:
        destination(url)
    except UnsafeDestination as exc:
        raise ValidationError(str(exc)) from exc
    return url


def clean_patterns(patterns: Iterable[str]) -> list[str]:
    """Distinct patterns in the bus's syntax, each matching some event name."""
    cleaned: list[str] = []
    for raw in patterns:
        pattern = raw.strip().lower()
        if not pattern or pattern in cleaned:
            continue
        if not PATTERN_SHAPE.match(pattern):
            raise ValidationError(
                f"“{raw.strip()[:60]}” is not a pattern: use event names such as "
                "task.completed, a family such as task.*, or * for everything."
            )
        if not any(bus.matches(pattern, name) for name in SENDABLE):
            raise ValidationError(f"“{pattern}” matches no Hivelight event.")
        cleaned.append(pattern)
    if not cleaned:
        raise ValidationError("Choose at least one event pattern (* for all).")
    if len(cleaned) > MAX_PATTERNS:
        raise ValidationError(f"At most {MAX_PATTERNS} patterns.")
    return cleaned


# --- endpoints -------------------------------------------------------------------

FIELDS = ("url", "description", "event_patterns", "is_enabled")


def _snapshot(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {
        "url": endpoint.url,
        "description": endpoint.description,
        "event_patterns": list(endpoint.event_patterns),
        "enabled": endpoint.is_enabled,
    }


def _subject(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {"type": "webhook_endpoint", "id": endpoint.pk, "label": endpoint.label}


def _record(
    actor: Any, name: str, endpoint: WebhookEndpoint, changes: dict[str, Any]
) -> None:
    record(
        name=name,
        firm_id=endpoint.firm_id,
        actor={"id": actor.pk, "name": actor.display_name},
        subject=_subject(endpoint),
        changes=changes,
    )


@transaction.atomic
def endpoint_create(
    *,
    actor: Any,
    url: str,
    description: str = "",
    event_patterns: Iterable[str],
    is_enabled: bool = True,
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint of the actor's firm; returns it and its secret (shown once)."""
    firm_id = selectors.admin_firm_id(actor)
    secret = signing.new_secret()
    endpoint = WebhookEndpoint(
        firm_id=firm_id,
        url=clean_url(url),
        description=description.strip(),
        event_patterns=clean_patterns(event_patterns),
        is_enabled=is_enabled,
        secret=secret,
        created_by=actor,
    )
    endpoint.full_clean()
    endpoint.save()
    changes = {key: [None, value] for key, value in _snapshot(endpoint).items()}
    _record(actor, names.WEBHOOK_ENDPOINT_CREATED, endpoint, changes)
    return endpoint, secret


@transaction.atomic
def endpoint_update(
    *,
    actor: Any,
    endpoint_id: int,
    url: str,
    description: str = "",
    event_patterns: Iterable[str],
    is_enabled: bool,
) -> WebhookEndpoint:
    """Change an endpoint; turning it back on forgets why it was turned off."""
    endpoint = selectors.endpoint_get_for_admin(
        user=actor, endpoint_id=endpoint_id, for_update=True
    )
    before = _snapshot(endpoint)
    if url.strip() != endpoint.url:
        endpoint.url = clean_url(url)
    endpoint.description = description.strip()
    endpoint.event_patterns = clean_patterns(event_patterns)
    if is_enabled and not endpoint.is_enabled:
        endpoint.disabled_reason = ""
        endpoint.disabled_at = None
        endpoint.failing_since = None
    elif not is_enabled and endpoint.is_enabled:
        endpoint.disabled_reason = f"Turned off by {actor.display_name}."
        endpoint.disabled_at = timezone.now()
    endpoint.is_enabled = is_enabled
    endpoint.full_clean()
    endpoint.save()
    after = _snapshot(endpoint)
    changes = {k: [before[k], after[k]] for k in after if before[k] != after[k]}
    if changes:
        _record(actor, names.WEBHOOK_ENDPOINT_UPDATED, endpoint, changes)
    return endpoint


def endpoint_set_enabled(
    *, actor: Any, endpoint_id: int, is_enabled: bool
) -> WebhookEndpoint:
    """Turn an endpoint on or off, nothing else."""
    with transaction.atomic():
        endpoint = selectors.endpoint_get_for_admin(
            user=actor, endpoint_id=endpoint_id, for_update=True
        )
        return endpoint_update(
            actor=actor,
            endpoint_id=endpoint.pk,
            url=endpoint.url,
            description=endpoint.description,
            event_patterns=endpoint.event_patterns,
            is_enabled=is_enabled,
        )


@transaction.atomic
def endpoint_delete(*, actor: Any, endpoint_id: int) -> None:
    """Delete an endpoint with its deliveries; nothing more is sent to it."""
    endpoint = selectors.endpoint_get_for_admin(
        user=actor, endpoint_id=endpoint_id, for_update=True
    )
    changes = {key: [value, None] for key, value in _snapshot(endpoint).items()}
    _record(actor, names.WEBHOOK_ENDPOINT_DELETED, endpoint, changes)
    endpoint.delete()


@transaction.atomic
def endpoint_rotate_secret(*, actor: Any, endpoint_id: int) -> str:
    """A new secret; the current one keeps signing too for 24 hours.

    Rotating again within the day replaces the newest secret and keeps the
    one receivers may still hold from before (never three at once).
    """
    endpoint = selectors.endpoint_get_for_admin(
        user=actor, endpoint_id=endpoint_id, for_update=True
    )
    now = timezone.now()
    secret = signing.new_secret()
    if not (
        endpoint.previous_secret
        and endpoint.previous_secret_expires_at
        and endpoint.previous_secret_expires_at > now
    ):
        endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = now + signing.ROTATION_OVERLAP
    endpoint.secret = secret
    endpoint.full_clean()
    endpoint.save()
    _record(
        actor,
        names.WEBHOOK_SECRET_ROTATED,
        endpoint,
        {"secret": [signing.hint(endpoint.previous_secret), signing.hint(secret)]},
    )
    return secret


# --- test events and resends ---------------------------------------------------------


@transaction.atomic
def endpoint_send_test(*, actor: Any, endpoint_id: int) -> WebhookDelivery:
    """Send a `webhook.test` event to the endpoint now, on or off.

    Its envelope has the shape of every event; it is not recorded, and it is
    tried once (press the button again to try again).
    """
    endpoint = selectors.endpoint_get_for_admin(
        user=actor, endpoint_id=endpoint_id, for_update=True
    )
    now = timezone.now()
    event = envelope.build(
        name=names.WEBHOOK_TEST,
        occurred_at=now,
        firm_id=endpoint.firm_id,
        actor={"id": actor.pk, "name": actor.display_name},
        subject=_subject(endpoint),
        matter=None,
        changes={},
        context=context_of(context.current()),
    )
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint,
        event_id=uuid.UUID(event["id"]),
        event_name=event["name"],
        payload=envelope.public(event),
        is_test=True,
        created_at=now,
        next_attempt_at=now,
    )
    attempts.publish_after_commit([delivery.pk])
    return delivery


@transaction.atomic
def delivery_resend(*, actor: Any, delivery_id: int) -> WebhookDelivery:
    """Send a delivery again now, with the same `webhook-id`, on a fresh schedule.

    A receiver that has it already recognises the id. Refused while the
    endpoint is off (turn it on first) or while an attempt is in flight.
    """
    found = selectors.delivery_get_for_admin(user=actor, delivery_id=delivery_id)
    endpoint = selectors.endpoint_get_for_admin(
        user=actor, endpoint_id=found.endpoint_id, for_update=True
    )
    delivery = selectors.delivery_get_for_admin(
        user=actor, delivery_id=delivery_id, for_update=True
    )
    now = timezone.now()
    if delivery.withheld:
        raise ValidationError(
            "This event is of a matter behind an ethical wall: it is never sent."
        )
    if not endpoint.is_enabled and not delivery.is_test:
        raise ValidationError("The endpoint is turned off: turn it on to resend.")
    if delivery.lease_until is not None and delivery.lease_until > now:
        raise ValidationError("This delivery is being sent right now.")
    delivery.status = Status.PENDING
    delivery.attempts = 0
    delivery.first_attempt_at = None
    delivery.next_attempt_at = now
    delivery.lease_until = None
    delivery.save(
        update_fields=[
            "status",
            "attempts",
            "first_attempt_at",
            "next_attempt_at",
            "lease_until",
        ]
    )
    attempts.publish_after_commit([delivery.pk])
    return delivery
