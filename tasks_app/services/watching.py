"""Watching: following a task's comments (a preference, not a change)."""

from __future__ import annotations

from django.db import transaction

from tasks_app import selectors
from tasks_app.models import TaskWatch, User


@transaction.atomic
def task_watch(*, actor: User, task_id: int) -> TaskWatch:
    """Start following a task's comments; watching twice is one watch.

    Permission is seeing the task (Http404 otherwise, so a wall leaks nothing).
    """
    task = selectors.task_get_for_user(user=actor, task_id=task_id)
    watch, _ = TaskWatch.objects.get_or_create(task=task, user=actor)
    return watch


@transaction.atomic
def task_unwatch(*, actor: User, task_id: int) -> None:
    """Stop following a task; unwatching a task not watched changes nothing."""
    task = selectors.task_get_for_user(user=actor, task_id=task_id)
    TaskWatch.objects.filter(task=task, user=actor).delete()
