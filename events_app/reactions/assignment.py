"""Assignment: the new assignee hears of it, and the previous one.

Nobody hears of what they did themselves: assigning yourself is quiet, and
so is unassigning yourself.
"""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from events_app import names
from events_app.notifications.services import Draft, Verb, notify
from events_app.reactions.audience import can_see_matter
from events_app.text import actor_name, quoted
from tasks_app.models import Task


def _already_done(event: dict[str, Any]) -> bool:
    """A task created done, or assigned once done: nothing to do for anyone."""
    status = ((event.get("changes") or {}).get("status") or [None, None])[1]
    if event["name"] == names.TASK_CREATED:
        return status == "DONE"
    return (
        Task.objects.filter(pk=event["subject"]["id"], status="DONE").exists()
        if status is None
        else status == "DONE"
    )


def notify_assignment(event: dict[str, Any]) -> None:
    """Tell the new assignee, and the previous one, unless they did it themselves.

    Tasks handed on together (someone left) are told once, by `handover`.
    """
    reason = (event.get("context") or {}).get("reason") or ""
    if reason.startswith(names.HANDOVER_REASON) or _already_done(event):
        return
    before, after = (event.get("changes") or {}).get("assignee") or (None, None)
    actor_id = (event.get("actor") or {}).get("id")
    task = event["subject"]
    url = reverse("task_detail", args=[task["id"]])
    who = actor_name(event)
    drafts: list[Draft] = []
    if after and after.get("id") != actor_id:
        drafts.append(
            Draft(
                after["id"],
                Verb.ASSIGNED,
                f"{who} assigned you {quoted(task['label'])}",
                url,
            )
        )
    if before and before.get("id") != actor_id:
        text = (
            f"{who} reassigned {quoted(task['label'])} to {after['name']}"
            if after
            else f"{who} unassigned you from {quoted(task['label'])}"
        )
        drafts.append(Draft(before["id"], Verb.UNASSIGNED, text, url))
    allowed = can_see_matter(event, (d.recipient_id for d in drafts))
    notify(event=event, drafts=[d for d in drafts if d.recipient_id in allowed])
