"""Due-date reminders (system events of the scheduled job) reach their person."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from events_app.notifications.services import Draft, Verb, notify
from events_app.reactions.audience import can_see_matter
from events_app.text import quoted


def notify_reminder(event: dict[str, Any]) -> None:
    changes = event.get("changes") or {}
    recipient = ((changes.get("recipient") or [None, None])[1] or {}).get("id")
    note = (changes.get("note") or [None, ""])[1] or ""
    if recipient is None or recipient not in can_see_matter(event, [recipient]):
        return
    subject = event["subject"]
    text = f"{quoted(subject.get('label'))}: {note}"
    url = reverse("task_detail", args=[subject["id"]])
    notify(event=event, drafts=[Draft(recipient, Verb.REMINDER, text, url)])
