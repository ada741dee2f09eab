"""A milestone's progress follows its tasks.

Recomputed from the tasks by the service, which saves only a real change,
so its `milestone.progress_changed` / `milestone.completed` events come once
per real change, made by capture like any other; no reaction listens to
milestone events, so there is no loop.
"""

from __future__ import annotations

from typing import Any

from events_app import names
from tasks_app import services
from tasks_app.models import Task


def milestone_progress(event: dict[str, Any]) -> None:
    """Recompute the progress of each milestone the task left, joined or is in."""
    milestone_ids: set[int] = set()
    for side in (event.get("changes") or {}).get("milestone") or ():
        if side and side.get("id"):
            milestone_ids.add(side["id"])
    if event["name"] in (names.TASK_COMPLETED, names.TASK_REOPENED):
        current = (
            Task.objects.filter(pk=event["subject"]["id"])
            .values_list("milestone_id", flat=True)
            .first()
        )
        if current:
            milestone_ids.add(current)
    for milestone_id in sorted(milestone_ids):
        services.milestone_recompute_progress(milestone_id=milestone_id)
