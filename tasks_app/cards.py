"""Board cards: laid out for a page, and rendered once for every open board.

A page's board is drawn from `columns()`: each card knows its neighbours
under the page's filters (the keyboard's Up and Down forms name them).

`live_card()` renders one card for the board messages of issue 13: the
same fragment for every open board of the matter, so no board has to fetch
it (200 open boards used to make 200 requests per change). What differs
between pages is filled in by the page (static/js/live_board.js): the
neighbours under its own filters, its CSRF token and its address. Every
subscriber of a matter's group passed the board's own permission check
(and is re-checked before each forward), so a card of that matter is
something each of them could fetch.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from typing import Any

from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from tasks_app.models import Task

# A column longer than this is not sent in a message: the page fetches it.
MAX_ORDER = 1000


@dataclass(frozen=True)
class Card:
    task: Task
    previous_id: int | None
    next_id: int | None

    @property
    def version(self) -> int:
        """When the card last changed (µs): a page keeps the newest it has seen."""
        return int(self.task.updated_at.timestamp() * 1_000_000)


@dataclass(frozen=True)
class Column:
    status: str
    label: str
    cards: list[Card]


def columns(board: dict[str, list[Task]]) -> list[Column]:
    """The board's columns, each card with its neighbours in that column."""
    result = []
    for status, label in Task.Status.choices:
        tasks = board.get(status, [])
        cards = [
            Card(
                task=task,
                previous_id=tasks[i - 1].pk if i > 0 else None,
                next_id=tasks[i + 1].pk if i + 1 < len(tasks) else None,
            )
            for i, task in enumerate(tasks)
        ]
        result.append(Column(status=status, label=label, cards=cards))
    return result


def live_card(*, task_id: int, matter_id: int) -> dict[str, Any] | None:
    """The card as it is now, for every open board of the matter; None if it
    is no longer on that board (deleted).

    `order` lists the ids of the card's whole column in board order (no
    filters), so a page places the card after the nearest card it shows (a
    column longer than MAX_ORDER has no `order`: the page fetches it);
    `assignee_id` and `milestone_id` let a filtered page drop a card its
    filters exclude. `today` (for "Overdue") is the firm's day: pages in
    other timezones may differ for a few hours around midnight until they
    are next drawn.
    """
    task = (
        Task.objects.select_related("assignee", "reviewer", "milestone", "matter__firm")
        .filter(pk=task_id, matter_id=matter_id)
        .first()
    )
    if task is None:
        return None
    order = list(
        Task.objects.filter(matter_id=task.matter_id, status=task.status)
        .order_by("rank", "id")
        .values_list("id", flat=True)[: MAX_ORDER + 1]
    )
    zone = zoneinfo.ZoneInfo(task.matter.firm.timezone)
    shown = Card(task=task, previous_id=None, next_id=None)
    html = render_to_string(
        "tasks_app/partials/task_card.html",
        {
            "card": shown,
            "live": True,
            "statuses": Task.Status.choices,
            "board_url": reverse("board", args=[task.matter_id]),
            "today": timezone.localdate(timezone=zone),
        },
    )
    card = {
        "html": html.strip(),
        "status": task.status,
        "version": shown.version,
        "assignee_id": task.assignee_id,
        "milestone_id": task.milestone_id,
    }
    if len(order) <= MAX_ORDER:
        card["order"] = order
    return card
