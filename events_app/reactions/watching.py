"""The creator and each new assignee of a task follow it from then on.

A reaction, not service code, so every write path (admin, shell, bulk) gets
it. A person who unwatches later is not re-added by a redelivered event,
since `bus.run` applies each event once. The price: a comment handled
before its task's `task.created` would miss the creator as a watcher; the
assignee is never missed, since comment notifications read the task's
current assignee directly.
"""

from __future__ import annotations

from typing import Any

from events_app import names
from events_app.reactions.audience import can_see_matter
from tasks_app.models import Task, TaskWatch


def auto_watch(event: dict[str, Any]) -> None:
    task_id = event["subject"]["id"]
    people: set[int | None] = set()
    after = ((event.get("changes") or {}).get("assignee") or (None, None))[1]
    if after:
        people.add(after.get("id"))
    if event["name"] == names.TASK_CREATED:
        people.add((event.get("actor") or {}).get("id"))
    watchers = can_see_matter(event, people)
    if not watchers or not Task.objects.filter(pk=task_id).exists():
        return
    TaskWatch.objects.bulk_create(
        [TaskWatch(task_id=task_id, user_id=user_id) for user_id in sorted(watchers)],
        ignore_conflicts=True,
    )
