"""Template helpers shared by every page: the navigation's matter list, due dates."""

from __future__ import annotations

import datetime as dt

from django import template
from django.db.models import QuerySet
from django.template import Context

from tasks_app import selectors
from tasks_app.models import Matter, Task

register = template.Library()


@register.simple_tag(takes_context=True)
def nav_matters(context: Context) -> QuerySet[Matter] | list[Matter]:
    """The matters the signed-in user may open, for the header menu."""
    request = context.get("request")
    if request is None or not request.user.is_authenticated:
        return []
    return selectors.matter_list_for_user(user=request.user)


@register.filter
def is_overdue(task: Task, today: dt.date | None) -> bool:
    """Open, with a due date before today (in the viewer's timezone)."""
    return bool(
        today
        and task.due_date
        and task.due_date < today
        and task.status != Task.Status.DONE
    )
