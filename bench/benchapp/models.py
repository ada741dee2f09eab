"""Copies of `tasks_app.models.Task`, one table each, for the capture bench.

Each copy has the same fields, types, defaults, ordering and index as the
real Task; only the history mechanism differs: none, django-simple-history,
django-auditlog (registered in `apps.py`) or django-pghistory (a trigger).
Reverse accessors are disabled (`related_name="+"`) so the copies add nothing
to Matter, Milestone or User.
"""

from __future__ import annotations

import pghistory
from django.db import models
from simple_history.models import HistoricalRecords

from tasks_app.models import Matter, Milestone, Task, User


class TaskCopy(models.Model):
    """The fields of tasks_app.models.Task, as a plain model."""

    matter = models.ForeignKey(Matter, on_delete=models.CASCADE, related_name="+")
    milestone = models.ForeignKey(
        Milestone, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True, max_length=20_000)
    status = models.CharField(
        max_length=20, choices=Task.Status.choices, default=Task.Status.TODO
    )
    priority = models.CharField(
        max_length=10, choices=Task.Priority.choices, default=Task.Priority.NORMAL
    )
    assignee = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    due_date = models.DateField(null=True, blank=True)
    rank = models.CharField(max_length=64)
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_modified_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True
        ordering = ["status", "rank", "id"]
        indexes = [
            models.Index(
                fields=["matter", "status", "rank"], name="%(class)s_board_idx"
            )
        ]

    def __str__(self) -> str:
        return self.title


class UntrackedTask(TaskCopy):
    """No history at all: the baseline."""


class SimpleHistoryTask(TaskCopy):
    """History by django-simple-history: a full row copy per save."""

    history = HistoricalRecords()


class AuditlogTask(TaskCopy):
    """History by django-auditlog: a LogEntry with a JSON diff per save."""


# The package's default trackers, named: a snapshot of the new row on insert
# and on every update that changes it, as simple-history and auditlog record.
@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent())
class PghistoryTask(TaskCopy):
    """History by django-pghistory: a trigger copies the row into an event table."""
