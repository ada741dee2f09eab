"""A task completed: its creator and watchers hear of it, never the person
who completed it (an approval's assignee hears of the approval instead)."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from events_app import names
from events_app.notifications.services import Draft, Verb, notify
from events_app.reactions.audience import can_see_matter
from events_app.text import actor_name, quoted
from tasks_app.models import Task, TaskWatch


def notify_completion(event: dict[str, Any]) -> None:
    subject = event["subject"]
    task = (
        Task.objects.filter(pk=subject["id"])
        .values("created_by_id", "assignee_id")
        .first()
    )
    if task is None:
        return
    people = set(
        TaskWatch.objects.filter(task_id=subject["id"]).values_list(
            "user_id", flat=True
        )
    )
    people.add(task["created_by_id"])
    people.discard((event.get("actor") or {}).get("id"))
    if (event.get("context") or {}).get("reason") == names.APPROVAL_REASON:
        people.discard(task["assignee_id"])
    allowed = can_see_matter(event, people)
    text = f"{actor_name(event)} completed {quoted(subject.get('label'))}"
    url = reverse("task_detail", args=[subject["id"]])
    notify(
        event=event,
        drafts=[Draft(pk, Verb.COMPLETED, text, url) for pk in sorted(allowed)],
    )
