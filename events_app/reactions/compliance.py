"""A compliance officer read a walled matter's record: its responsible partner
hears of it (the read itself is in the matter's record)."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from events_app.notifications.services import Draft, Verb, notify
from events_app.text import actor_name
from tasks_app.models import MatterMember


def notify_responsible_partner(event: dict[str, Any]) -> None:
    matter = event.get("matter") or {}
    partner_id = (
        MatterMember.objects.filter(
            matter_id=matter.get("id"),
            role=MatterMember.Role.RESPONSIBLE_PARTNER,
            user__is_active=True,
        )
        .values_list("user_id", flat=True)
        .first()
    )
    if partner_id is None or partner_id == (event.get("actor") or {}).get("id"):
        return
    view = ((event.get("changes") or {}).get("view") or [None, "the audit log"])[1]
    text = (
        f"{actor_name(event)} (compliance) read the record of "
        f"{matter.get('label', 'a walled matter')} in {view}"
    )
    url = reverse("matter_feed", args=[matter["id"]])
    notify(event=event, drafts=[Draft(partner_id, Verb.AUDITED, text, url)])
