"""Open boards and calendars hear which card changed.

Events are made by the real services and delivered the way the worker
delivers them (`bus.run`, with its ledger), in the test process.
"""

from __future__ import annotations

import pytest

from events_app import bus, names
from events_app.context import acting_as
from events_app.live import groups as live
from tasks_app import services
from tests.events_app.bus_helpers import (
    deliver_since,
    outbox_mark,
)
from tests.fixtures.factories import World, make_task

pytestmark = pytest.mark.django_db


def test_board_handler_sends_a_thin_message_that_skips_the_senders_tab(
    world: World, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    sent = []
    monkeypatch.setattr(
        live,
        "send_to_matter",
        lambda matter_id, payload, exclude_channel=None: sent.append(
            (matter_id, payload, exclude_channel)
        ),
    )
    task = make_task(world.matter, actor=world.alice)
    mark = outbox_mark()
    with acting_as(world.alice, source="web", client_id="specific.a1!b2"):
        services.task_move(actor=world.alice, task_id=task.pk, status="IN_PROGRESS")

    with django_capture_on_commit_callbacks(execute=True):
        deliver_since(mark)

    assert sent == [
        (
            world.matter.pk,
            {
                "kind": "board",
                "matter_id": world.matter.pk,
                "task_id": task.pk,
                "event": names.TASK_STARTED,
                "event_id": sent[0][1]["event_id"],
                # The columns it left and entered: no page fetches the card.
                "status": "IN_PROGRESS",
                "from_status": "TODO",
            },
            "specific.a1!b2",
        )
    ]


def test_a_page_view_sends_nothing_to_boards() -> None:
    assert [s.name for s in bus.handlers_for(names.TASK_VIEWED)] == [
        "matter_activity:task.*"
    ]
    assert {s.name for s in bus.handlers_for(names.TASK_MOVED)} == {
        "matter_activity:task.*",
        "live_board:task.moved",
    }
