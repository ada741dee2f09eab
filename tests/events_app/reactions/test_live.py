"""Open boards and calendars hear which card changed.

Events are made by the real services and delivered the way the worker
delivers them (`bus.run`, with its ledger), in the test process.
"""

from __future__ import annotations

import pytest

from events_app import bus, names
from events_app.context import acting_as
from events_app.live import groups as live
from tasks_app import cards, services
from tests.events_app.bus_helpers import (
    deliver_since,
    outbox_mark,
)
from tests.fixtures.factories import World, make_task

pytestmark = pytest.mark.django_db


@pytest.fixture
def board_messages(monkeypatch) -> list[tuple[int, dict, str | None]]:
    sent: list[tuple[int, dict, str | None]] = []
    monkeypatch.setattr(
        live,
        "send_to_matter",
        lambda matter_id, payload, exclude_channel=None: sent.append(
            (matter_id, payload, exclude_channel)
        ),
    )
    return sent


def test_a_board_message_carries_the_moved_card_and_skips_the_senders_tab(
    world: World, board_messages, django_capture_on_commit_callbacks
) -> None:
    first = make_task(world.matter, "Draft particulars", actor=world.alice)
    task = make_task(world.matter, "Serve <b>the</b> claim", actor=world.alice)
    services.task_assign(actor=world.alice, task_id=task.pk, assignee=world.bob)
    services.task_move(actor=world.alice, task_id=first.pk, status="IN_PROGRESS")
    mark = outbox_mark()
    with acting_as(world.alice, source="web", client_id="specific.a1!b2"):
        services.task_move(
            actor=world.alice, task_id=task.pk, status="IN_PROGRESS", before_id=first.pk
        )

    with django_capture_on_commit_callbacks(execute=True):
        deliver_since(mark)

    [(matter_id, payload, exclude)] = board_messages
    assert (matter_id, exclude) == (world.matter.pk, "specific.a1!b2")
    card = payload.pop("card")
    assert payload == {
        "kind": "board",
        "matter_id": world.matter.pk,
        "task_id": task.pk,
        "event": names.TASK_STARTED,
        "event_id": payload["event_id"],
        "status": "IN_PROGRESS",
        "from_status": "TODO",
    }
    # The card as every board draws it, placed by the column's order.
    task.refresh_from_db()
    assert card["status"] == "IN_PROGRESS"
    assert card["order"] == [task.pk, first.pk]
    assert card["assignee_id"] == world.bob.pk
    assert card["milestone_id"] is None
    assert card["version"] == int(task.updated_at.timestamp() * 1_000_000)
    html = card["html"]
    assert html.startswith('<article class="card') and f'id="task-{task.pk}"' in html
    assert "Serve &lt;b&gt;the&lt;/b&gt; claim" in html and "<b>" not in html
    assert "Bob Stone" in html
    # Nothing of one viewer in a card sent to all: no CSRF token; neighbours
    # (Up, Down) are left for each page to fill under its own filters.
    assert "csrfmiddlewaretoken" not in html
    assert 'name="before_id" value=""' in html and 'name="after_id" value=""' in html


def test_a_deleted_card_is_removed_from_open_boards(
    world: World, board_messages, django_capture_on_commit_callbacks
) -> None:
    task = make_task(world.matter, "Obsolete step", actor=world.alice)
    mark = outbox_mark()
    services.task_delete(actor=world.alice, task_id=task.pk)

    with django_capture_on_commit_callbacks(execute=True):
        deliver_since(mark)

    [(_, payload, _)] = board_messages
    assert payload["event"] == names.TASK_DELETED
    assert payload["removed"] is True and "card" not in payload


def test_a_column_too_long_to_send_is_fetched_by_the_page(
    world: World, board_messages, django_capture_on_commit_callbacks, monkeypatch
) -> None:
    monkeypatch.setattr(cards, "MAX_ORDER", 2)
    for title in ("One", "Two", "Three"):
        make_task(world.matter, title, actor=world.alice)
    mark = outbox_mark()
    task = make_task(world.matter, "Four", actor=world.alice)

    with django_capture_on_commit_callbacks(execute=True):
        deliver_since(mark)

    [(_, payload, _)] = board_messages
    assert payload["card"]["status"] == "TODO" and "order" not in payload["card"]
    assert f'id="task-{task.pk}"' in payload["card"]["html"]


def test_a_page_view_sends_nothing_to_boards() -> None:
    assert [s.name for s in bus.handlers_for(names.TASK_VIEWED)] == [
        "matter_activity:task.*"
    ]
    assert {s.name for s in bus.handlers_for(names.TASK_MOVED)} == {
        "matter_activity:task.*",
        "live_board:task.moved",
    }
