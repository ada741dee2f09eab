"""A matter's activity calendar: its own events, its walls, its live updates."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.test import Client

from events_app import bus, names, store
from events_app.context import acting_as
from events_app.live import groups as live
from events_app.reactions import live as handlers
from tasks_app import services
from tests.events_app import event_helpers
from tests.events_app.event_helpers import at, envelope_event
from tests.events_app.history.test_calendar import (
    cells,
    client_for,
    receive_within,
    stat,
)
from tests.fixtures.factories import make_task

pipeline = event_helpers.pipeline


@pytest.fixture
def walled_march(world, event_store):
    """Work on the walled matter around 27 March 2023, and work elsewhere."""
    events = [
        envelope_event(
            at(2023, 3, 27, 9) + dt.timedelta(minutes=i),
            ["task.completed", "task.updated", "comment.added"][i % 3],
            firm_id=world.firm.pk,
            actor=[world.bob, world.alice][i % 2],
            matter=world.walled,
            label="Brightwater memo",
        )
        for i in range(12)
    ]
    events += [
        # The system's work on the matter counts; its reminders do not.
        envelope_event(
            at(2023, 3, 28, 10),
            "milestone.completed",
            firm_id=world.firm.pk,
            subject_type="milestone",
            matter=world.walled,
            label="Brightwater heads",
        ),
        envelope_event(
            at(2023, 3, 28, 7),
            "task.due_soon",
            firm_id=world.firm.pk,
            matter=world.walled,
            label="Brightwater memo",
        ),
        # A rank change is stored, not counted by the "all" filter.
        envelope_event(
            at(2023, 3, 28, 11),
            "task.moved",
            firm_id=world.firm.pk,
            actor=world.bob,
            matter=world.walled,
        ),
        # 23:30 UTC on the 28th is 00:30 on the 29th in London.
        envelope_event(
            at(2023, 3, 28, 23, 30),
            "matter.updated",
            firm_id=world.firm.pk,
            actor=world.alice,
            subject_type="matter",
            subject_id=world.walled.pk,
            matter=world.walled,
            label=world.walled.name,
        ),
        # Another matter's work and a login belong to no calendar of this one.
        envelope_event(
            at(2023, 3, 27, 10),
            firm_id=world.firm.pk,
            actor=world.bob,
            matter=world.matter,
            label="Quiet open-matter task",
        ),
        envelope_event(
            at(2023, 3, 27, 8), "user.logged_in", firm_id=world.firm.pk, actor=world.bob
        ),
    ]
    event_store.put_events(events)
    return events


def url(world, part: str = "") -> str:
    return f"/matters/{world.walled.pk}/calendar/{part}"


def test_the_matter_calendar_draws_the_matters_own_events(world, walled_march):
    html = client_for(world.bob).get(url(world) + "?year=2023").content.decode()

    days = cells(html)
    assert len(days) == 365
    assert days["2023-03-27"]["data-count"] == "12"  # Bob's and Alice's
    assert days["2023-03-28"]["data-count"] == "1"  # the milestone, not the rest
    assert days["2023-03-29"]["data-count"] == "1"  # local day of 23:30 UTC
    assert stat(html, "total") == "14"
    assert 'data-live="matter_activity"' in html
    assert f'data-live-id="{world.walled.pk}"' in html
    assert f"Activity calendar of {world.walled.name}" in html


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("all", {"2023-03-27": "12", "2023-03-28": "1"}),
        ("tasks", {"2023-03-27": "8", "2023-03-28": "0"}),
        ("progress", {"2023-03-27": "4", "2023-03-28": "0"}),
        ("comments", {"2023-03-27": "4", "2023-03-28": "0"}),
    ],
)
def test_each_filter_counts_the_matters_events(world, walled_march, key, expected):
    html = (
        client_for(world.alice)
        .get(url(world, "grid/") + f"?year=2023&filter={key}")
        .content.decode()
    )

    days = cells(html)
    assert {d: days[d]["data-count"] for d in expected} == expected


def test_logins_are_not_a_filter_of_a_matter(world, walled_march):
    client = client_for(world.bob)

    page = client.get(url(world)).content.decode()

    assert 'value="logins"' not in page and 'value="comments"' in page
    assert client.get(url(world) + "?filter=logins").status_code == 400


def test_a_day_lists_the_matters_events_under_the_filter(world, walled_march):
    client = client_for(world.bob)

    day = client.get(url(world, "day/"), {"date": "2023-03-27"}).content.decode()
    comments = client.get(
        url(world, "day/"), {"date": "2023-03-27", "filter": "comments"}
    ).content.decode()
    next_day = client.get(url(world, "day/"), {"date": "2023-03-28"}).content.decode()

    assert day.count('class="history-item') == 12
    assert "Brightwater memo" in day and "Quiet open-matter task" not in day
    assert "logged in" not in day
    assert comments.count('class="history-item') == 4
    assert 'data-event-name="comment.added"' in comments
    assert 'data-event-name="task.completed"' not in comments
    assert next_day.count('class="history-item') == 1
    assert 'data-event-name="milestone.completed"' in next_day
    assert "task.due_soon" not in next_day and "task.moved" not in next_day
    assert client.get(url(world, "day/")).status_code == 400  # no date
    assert client.get(url(world, "day/"), {"date": "soon"}).status_code == 400


def test_a_day_of_a_persons_calendar_lists_what_the_viewer_may_read(
    world, walled_march
):
    bob_day = f"/people/{world.bob.pk}/activity/day/"

    his = client_for(world.bob).get(bob_day, {"date": "2023-03-27"})
    admins = client_for(world.dora).get(bob_day, {"date": "2023-03-27"})

    assert his.status_code == admins.status_code == 200
    his, admins = his.content.decode(), admins.content.decode()
    assert "Brightwater memo" in his and "Quiet open-matter task" in his
    assert his.count('class="history-item') == 8  # 6 on the matter, 1, a login
    # The firm admin is outside the wall: the person's count is everything,
    # the listed events leave out the walled matter.
    assert "Brightwater memo" not in admins and "Quiet open-matter task" in admins
    assert client_for(world.alice).get(bob_day, {"date": "2023-03-27"}).status_code == (
        403
    )


@pytest.mark.parametrize("who", ["walt", "carol", "dora", "oscar"])
def test_outside_the_wall_or_the_firm_every_part_is_a_404(world, walled_march, who):
    client = client_for(getattr(world, who))

    for part, params in (("", {}), ("grid/", {}), ("day/", {"date": "2023-03-27"})):
        response = client.get(url(world, part), params)
        assert response.status_code == 404, (who, part)
        assert "Brightwater" not in response.content.decode()
    anonymous = Client().get(url(world))
    assert anonymous.status_code == 302 and "/login/" in anonymous.url


def test_the_board_and_the_feed_link_to_the_calendar(world, event_store):
    client = client_for(world.bob)
    link = f'href="/matters/{world.matter.pk}/calendar/"'

    assert link in client.get(f"/matters/{world.matter.pk}/").content.decode()
    assert link in client.get(f"/matters/{world.matter.pk}/activity/").content.decode()


def test_a_matter_calendar_render_reads_the_counters_once(
    world, walled_march, monkeypatch
):
    calls: list[str] = []
    real = store.matter_daily_counts
    monkeypatch.setattr(
        store,
        "matter_daily_counts",
        lambda **kw: calls.append(kw["calendar_filter"]) or real(**kw),
    )
    monkeypatch.setattr(
        store, "query_matter_feed", lambda **kw: calls.append("events") or None
    )

    response = client_for(world.bob).get(url(world) + "?filter=tasks")

    assert response.status_code == 200
    assert calls == ["tasks"]


# --- live -------------------------------------------------------------------------


def sent_to_matters(monkeypatch) -> list[tuple[int, dict[str, Any]]]:
    sent: list[tuple[int, dict[str, Any]]] = []
    monkeypatch.setattr(
        live,
        "send_to_matter_activity",
        lambda matter_id, payload: sent.append((matter_id, payload)),
    )
    return sent


def test_the_matters_open_calendars_hear_of_its_counted_events(
    db, monkeypatch, django_capture_on_commit_callbacks
):
    sent = sent_to_matters(monkeypatch)
    comment = envelope_event(at(2023, 3, 29, 16, 31), "comment.added", firm_id=1)
    comment["matter"] = {"id": 5, "label": "Smith v Jones"}
    quiet = [
        envelope_event(at(2023, 3, 29), "comment.added", firm_id=1),  # no matter
        {**comment, "name": "task.moved"},
        {**comment, "name": "task.due_soon"},
        {**comment, "name": "milestone.progress_changed"},
    ]

    with django_capture_on_commit_callbacks(execute=True):
        handlers.matter_activity_live(comment)
        for event in quiet:
            handlers.matter_activity_live(event)

    assert sent == [
        (
            5,
            {
                "kind": "matter_activity",
                "matter_id": 5,
                "occurred_at": comment["occurred_at"],
                "name": "comment.added",
            },
        )
    ]
    assert "matter_activity_live:comment.added" in {s.name for s in bus.subscriptions()}
    assert not any(
        s.name.startswith("matter_activity_live")
        for s in bus.handlers_for(names.TASK_MOVED)
    )


def test_a_completion_reaches_the_matters_calendar_group_through_the_pipeline(
    world, pipeline
):
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    group = live.matter_activity_group(world.walled.pk)
    async_to_sync(layer.group_add)(group, channel)
    try:
        task = make_task(world.walled, "Brightwater memo", actor=world.alice)
        with pipeline(), acting_as(world.bob, source="web"):
            services.task_update(actor=world.bob, task_id=task.pk, status="DONE")

        # The task's creation is the matter's work too, and may come first.
        heard = [async_to_sync(receive_within)(layer, channel, 10) for _ in range(2)]
    finally:
        async_to_sync(layer.group_discard)(group, channel)

    assert {m["group"] for m in heard} == {group}
    assert {json.loads(m["text"])["kind"] for m in heard} == {"matter_activity"}
    assert {json.loads(m["text"])["matter_id"] for m in heard} == {world.walled.pk}
    assert sorted(json.loads(m["text"])["name"] for m in heard) == [
        "task.completed",
        "task.created",
    ]
