"""The pipeline's bookkeeping is pruned after PIPELINE_RETENTION_DAYS, and
nothing that can still be needed goes: an undelivered event, an unsent
EventBridge entry, or the ledger of an event that could still come round."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.utils import timezone

from events_app import bus, names
from events_app.models import EventBridgeEntry, HandlerRun, OutboxEvent
from events_app.outbox import retention
from tasks_app import services
from tests.events_app.bus_helpers import notified, outbox_mark
from tests.events_app.outbox.test_relay import relay_all
from tests.fixtures.factories import make_task

pytestmark = pytest.mark.services


def days_ago(days: float) -> dt.datetime:
    return timezone.now() - dt.timedelta(days=days)


def age(seqs: list[int], days: float) -> None:
    """Make these outbox rows, and their handlers' ledger, `days` old."""
    rows = OutboxEvent.objects.filter(seq__in=seqs)
    event_ids = list(rows.values_list("event_id", flat=True))
    rows.update(created_at=days_ago(days), dispatched_at=days_ago(days))
    HandlerRun.objects.filter(event_id__in=event_ids).update(created_at=days_ago(days))


def test_old_delivered_rows_go_and_recent_or_undelivered_ones_stay(
    event_store, world, settings
):
    settings.PIPELINE_RETENTION_DAYS = 7
    task = make_task(world.matter, actor=world.alice)
    mark = outbox_mark()
    for n in range(3):
        services.task_update(actor=world.alice, task_id=task.pk, title=f"Old {n}")
    old = list(OutboxEvent.objects.filter(seq__gt=mark).values_list("seq", flat=True))
    mark = outbox_mark()
    services.task_assign(actor=world.alice, task_id=task.pk, assignee=world.bob)
    recent = list(
        OutboxEvent.objects.filter(seq__gt=mark).values_list("seq", flat=True)
    )
    relay_all()
    age(old, days=8)
    old_ids = set(
        OutboxEvent.objects.filter(seq__in=old).values_list("event_id", flat=True)
    )
    assert HandlerRun.objects.filter(event_id__in=old_ids).exists()
    # A month-old change whose event never got out (the store was down).
    mark = outbox_mark()
    services.task_update(actor=world.alice, task_id=task.pk, title="Stuck")
    stuck = OutboxEvent.objects.get(seq__gt=mark)
    OutboxEvent.objects.filter(pk=stuck.pk).update(created_at=days_ago(30))

    pruned = retention.prune(batch_size=2)  # several batches

    assert pruned.outbox == len(old)
    assert not OutboxEvent.objects.filter(seq__in=old).exists()
    assert not HandlerRun.objects.filter(event_id__in=old_ids).exists()
    assert pruned.ledger > 0
    assert set(OutboxEvent.objects.values_list("seq", flat=True)) >= {
        *recent,
        stuck.seq,
    }
    # The stuck event is still relayed once the store answers.
    relay_all()
    stuck.refresh_from_db()
    assert stuck.dispatched_at is not None
    # Nothing the person was told went with the bookkeeping.
    assert [n.verb for n in notified(world.bob)] == ["assigned"]


def test_a_recent_event_delivered_again_after_pruning_still_applies_once(
    event_store, world
):
    task = make_task(world.matter, actor=world.alice)
    mark = outbox_mark()
    services.task_assign(actor=world.alice, task_id=task.pk, assignee=world.bob)
    relay_all()
    assigned = OutboxEvent.objects.get(seq__gt=mark, name=names.TASK_ASSIGNED)
    # Everything before it is old.
    age(
        list(OutboxEvent.objects.filter(seq__lte=mark).values_list("seq", flat=True)),
        days=8,
    )

    retention.prune()

    handlers = bus.handlers_for(assigned.name)
    assert handlers
    assert not any(bus.run(sub.name, assigned.payload) for sub in handlers)
    assert len(notified(world.bob)) == 1


def test_sent_eventbridge_entries_go_after_the_retention_and_unsent_ones_stay(
    db, settings
):
    settings.PIPELINE_RETENTION_DAYS = 3

    def entry(sent_days_ago: float | None) -> EventBridgeEntry:
        return EventBridgeEntry.objects.create(
            event_id=uuid.uuid4(),
            payload={"name": names.TASK_COMPLETED},
            created_at=days_ago(10),
            sent_at=None if sent_days_ago is None else days_ago(sent_days_ago),
        )

    gone = entry(sent_days_ago=4)
    kept_sent = entry(sent_days_ago=2)
    never_sent = entry(sent_days_ago=None)

    pruned = retention.prune()

    assert pruned.eventbridge == 1
    remaining = set(EventBridgeEntry.objects.values_list("pk", flat=True))
    assert remaining == {kept_sent.pk, never_sent.pk}
    assert gone.pk not in remaining


def test_beat_prunes_hourly_through_the_task(db, settings):
    from events_app import tasks

    schedule = {
        e["task"]: e["schedule"] for e in settings.CELERY_BEAT_SCHEDULE.values()
    }
    assert schedule[tasks.prune_pipeline.name] == 3600.0
    EventBridgeEntry.objects.create(
        event_id=uuid.uuid4(), payload={}, sent_at=days_ago(30)
    )

    assert tasks.prune_pipeline.apply().get() == {
        "outbox": 0,
        "ledger": 0,
        "eventbridge": 1,
    }
