"""Backdated writes (`acting_as(at=)`, only the demo seed uses it): events and
rows carry the historic time, and nobody is told of them."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from events_app import bus, envelope
from events_app.context import acting_as, current
from events_app.models import HandlerRun, Notification, OutboxEvent
from tasks_app import services
from tasks_app.models import Task

LONDON = dt.timezone(dt.timedelta(hours=1))


def _events(name: str) -> list[dict]:
    return [
        row.payload for row in OutboxEvent.objects.filter(name=name).order_by("seq")
    ]


def test_acting_as_refuses_a_naive_or_future_time() -> None:
    with (
        pytest.raises(ValueError, match="aware"),
        acting_as(at=dt.datetime(2025, 1, 1)),
    ):
        pass
    future = timezone.now() + dt.timedelta(minutes=5)
    with pytest.raises(ValueError, match="future"), acting_as(at=future):
        pass
    assert current().occurred_at is None


def test_a_backdated_task_has_its_time_in_rows_events_and_ids(world) -> None:
    when = dt.datetime(2025, 3, 14, 9, 30, 5, tzinfo=LONDON)
    with acting_as(world.alice, source="shell", at=when):
        task = services.task_create(
            actor=world.alice,
            matter_id=world.matter.pk,
            title="Old work",
            assignee=world.bob,
        )
    later = when + dt.timedelta(days=3)
    with acting_as(world.bob, source="shell", at=later):
        services.task_move(actor=world.bob, task_id=task.pk, status="IN_PROGRESS")

    task = Task.objects.get(pk=task.pk)
    assert task.created_at == when
    assert task.updated_at == later
    created, started = _events("task.created")[0], _events("task.started")[0]
    assert envelope.parse_instant(created["occurred_at"]) == when
    assert envelope.parse_instant(started["occurred_at"]) == later
    # UUIDv7 ids carry the historic millisecond, so they sort by time too.
    assert int(created["id"][:8] + created["id"][9:13], 16) == int(
        when.timestamp() * 1000
    )
    assert created["id"] < started["id"]
    assert envelope.backdated(created)
    assert created["context"]["recorded_at"] > created["occurred_at"]


def test_a_consequence_of_a_backdated_act_is_backdated_too(world) -> None:
    with acting_as(world.alice, source="shell"):
        task = services.task_create(
            actor=world.alice,
            matter_id=world.walled.pk,
            title="Reviewed work",
            assignee=world.bob,
            reviewer=world.alice,
            status="IN_REVIEW",
        )
    when = timezone.now() - dt.timedelta(days=40)
    with acting_as(world.alice, source="shell", at=when):
        services.task_approve(actor=world.alice, task_id=task.pk)
    completed = _events("task.completed")[0]
    assert envelope.parse_instant(completed["occurred_at"]) == when
    assert completed["context"]["caused_by"] == _events("task.approved")[0]["id"]


def test_now_is_untouched_without_a_historic_time(world) -> None:
    before = timezone.now()
    with acting_as(world.alice, source="shell"):
        task = services.task_create(
            actor=world.alice, matter_id=world.matter.pk, title="Today's work"
        )
    event = _events("task.created")[0]
    assert envelope.parse_instant(event["occurred_at"]) >= before
    assert task.created_at >= before
    assert not envelope.backdated(event)


def test_backdated_events_reach_no_handler_and_no_target(world) -> None:
    when = timezone.now() - dt.timedelta(days=100)
    with acting_as(world.alice, source="shell", at=when):
        services.task_create(
            actor=world.alice,
            matter_id=world.matter.pk,
            title="Assigned long ago",
            assignee=world.bob,
        )
    heard: list[list[dict]] = []
    bus.add_target("test_backdated", heard.append)
    try:
        sent = bus.dispatch(_events("task.created"))
    finally:
        bus._targets.pop("test_backdated")
    assert sent == 0
    assert [event for batch in heard for event in batch] == []
    assert not HandlerRun.objects.exists()
    assert not Notification.objects.exists()


def test_a_backdated_write_still_goes_through_the_services_checks(world) -> None:
    when = timezone.now() - dt.timedelta(days=1)
    with (
        pytest.raises(ValidationError),
        acting_as(world.alice, source="shell", at=when),
    ):
        services.task_create(
            actor=world.alice,
            matter_id=world.matter.pk,
            title="For someone outside",
            assignee=world.oscar,
        )
