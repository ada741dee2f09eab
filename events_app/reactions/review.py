"""Review: the reviewer hears their review is asked for; the assignee hears
the answer (approved, or returned with what to change)."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from events_app import names
from events_app.notifications.services import Draft, Verb, notify
from events_app.reactions.audience import can_see_matter
from events_app.text import actor_name, excerpt, quoted
from tasks_app.models import Task

QUOTE_LENGTH = 140


def notify_review(event: dict[str, Any]) -> None:
    subject = event["subject"]
    task = (
        Task.objects.filter(pk=subject["id"])
        .values("assignee_id", "reviewer_id")
        .first()
    )
    if task is None:
        return
    who = actor_name(event)
    label = quoted(subject.get("label"))
    url = reverse("task_detail", args=[subject["id"]])
    name = event["name"]
    if name == names.TASK_REVIEW_REQUESTED:
        recipient = task["reviewer_id"]
        draft = (Verb.REVIEW_REQUESTED, f"{who} asks for your review of {label}")
    elif name == names.TASK_APPROVED:
        recipient = task["assignee_id"]
        draft = (Verb.APPROVED, f"{who} approved {label}")
    else:
        recipient = task["assignee_id"]
        said = ((event.get("changes") or {}).get("comment") or [None, ""])[1] or ""
        draft = (
            Verb.CHANGES_REQUESTED,
            f"{who} returned {label}: {excerpt(said, QUOTE_LENGTH)}",
        )
    if recipient is None or recipient == (event.get("actor") or {}).get("id"):
        return
    if recipient not in can_see_matter(event, [recipient]):
        return
    notify(event=event, drafts=[Draft(recipient, draft[0], draft[1], url)])
