"""Tasks handed on together: each new assignee hears of it once.

One notification per person, however many tasks, with a count and no task
titles (the event may span walled matters; the tasks themselves are on the
person's list).
"""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from events_app.notifications.services import Draft, Verb, notify
from events_app.text import actor_name


def notify_handover(event: dict[str, Any]) -> None:
    changes = event.get("changes") or {}
    cause = (changes.get("cause") or [None, ""])[1] or ""
    receivers = (changes.get("to") or [None, []])[1] or []
    who = actor_name(event)
    leaving = (event.get("subject") or {}).get("label") or "a colleague"
    drafts = []
    for receiver in receivers:
        count = receiver.get("tasks") or 0
        if not receiver.get("id") or not count:
            continue
        tasks = "1 open task" if count == 1 else f"{count} open tasks"
        text = f"{who} handed you {tasks} of {leaving}"
        if cause:
            text += f" ({cause})"
        drafts.append(Draft(receiver["id"], Verb.HANDED_OVER, text, reverse("home")))
    notify(event=event, drafts=drafts)
