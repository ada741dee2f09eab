"""Outbox -> DynamoDB Local -> bus: every committed event stored and handled once."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections import Counter
from typing import Any

import boto3
import pytest
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from events_app import bus, names
from events_app.context import acting_as
from events_app.models import HandlerRun, OutboxEvent
from events_app.outbox import relay as outbox
from tasks_app import services
from tasks_app.models import Comment, Task
from tests.fixtures.factories import make_task
from tests.fixtures.worker import celery_eager

pytestmark = pytest.mark.services


def dynamodb_table():
    cfg = settings.EVENT_STORE
    resource = boto3.resource(
        "dynamodb",
        endpoint_url=cfg["ENDPOINT_URL"],
        region_name=cfg["REGION"],
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    return resource.Table(f"{cfg['TABLE_PREFIX']}Events")


def entity_items(firm_id: int, subject_type: str, subject_id: int) -> list[dict]:
    """Read an entity's events straight from the table, by DESIGN.md's GSI1 key."""
    from boto3.dynamodb.conditions import Key

    response = dynamodb_table().query(
        IndexName="gsi1_entity",
        KeyConditionExpression=Key("gsi1pk").eq(
            f"E#f_{firm_id}#{subject_type}#{subject_id}"
        ),
    )
    return response["Items"]


def user_items(firm_id: int, user_id: int) -> list[dict]:
    from boto3.dynamodb.conditions import Key

    response = dynamodb_table().query(
        KeyConditionExpression=Key("pk").eq(f"U#f_{firm_id}#{user_id}"),
        ConsistentRead=True,
    )
    return response["Items"]


def all_event_ids() -> Counter:
    table = dynamodb_table()
    ids: Counter = Counter()
    kwargs: dict[str, Any] = {"ProjectionExpression": "ev_id"}
    while True:
        page = table.scan(**kwargs)
        ids.update(item["ev_id"] for item in page["Items"])
        if "LastEvaluatedKey" not in page:
            return ids
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def relay_all() -> outbox.RelayResult:
    return outbox.sweep(ignore_backoff=True)


def test_every_write_path_lands_in_the_store_under_design_keys(event_store, world):
    firm = world.firm.pk
    with acting_as(world.alice, source="web"):
        task = make_task(world.matter, actor=world.alice, title="My task")
        services.task_update(actor=world.alice, task_id=task.pk, status="IN_PROGRESS")
    loaded = Task.objects.get(pk=task.pk)  # shell-style save
    loaded.priority = "HIGH"
    loaded.save()
    Task.objects.filter(pk=task.pk).update(title="Renamed by update()")
    loaded.refresh_from_db()
    loaded.due_date = dt.date(2030, 1, 31)
    Task.objects.bulk_update([loaded], ["due_date"])
    [bulk] = Task.objects.bulk_create(
        [Task(matter=world.matter, title="Bulk", rank="zz")]
    )
    Task.objects.filter(pk=bulk.pk).delete()

    result = relay_all()

    assert result.failed == 0
    history = sorted(entity_items(firm, "task", task.pk), key=lambda i: i["sk"])
    assert [i["ev_name"] for i in history] == [
        names.TASK_CREATED,
        names.TASK_STARTED,
        names.TASK_UPDATED,
        names.TASK_UPDATED,
        names.TASK_UPDATED,
    ]
    bulk_history = sorted(entity_items(firm, "task", bulk.pk), key=lambda i: i["sk"])
    assert [i["ev_name"] for i in bulk_history] == [
        names.TASK_CREATED,
        names.TASK_DELETED,
    ]
    alice_names = {i["ev_name"] for i in user_items(firm, world.alice.pk)}
    assert {names.TASK_CREATED, names.TASK_STARTED} <= alice_names
    assert OutboxEvent.objects.filter(dispatched_at__isnull=True).count() == 0
    assert all_event_ids() == Counter(
        str(e) for e in OutboxEvent.objects.values_list("event_id", flat=True)
    )


def test_seed_example_stored_as_task_completed_by_bob_at_his_time(event_store, world):
    task = make_task(world.matter, actor=world.alice, title="My task")
    services.task_update(actor=world.alice, task_id=task.pk, status="IN_PROGRESS")
    with acting_as(world.bob, source="web"):
        services.task_update(actor=world.bob, task_id=task.pk, status="DONE")
    relay_all()

    [item] = [
        i
        for i in entity_items(world.firm.pk, "task", task.pk)
        if i["ev_name"] == names.TASK_COMPLETED
    ]
    assert item["actor"]["id"] == world.bob.pk
    assert item["subject"]["label"] == "My task"
    assert item["occurred_at"][:10] == timezone.now().date().isoformat()
    bob_items = user_items(world.firm.pk, world.bob.pk)
    assert [i["ev_name"] for i in bob_items] == [names.TASK_COMPLETED]


def test_admin_edit_is_stored_as_done_by_the_admin_user(event_store, world, client):
    world.dora.is_staff = world.dora.is_superuser = True
    world.dora.save()
    task = make_task(world.matter, actor=world.alice, title="Admin target")
    client.force_login(world.dora)
    page = client.get(f"/admin/tasks_app/task/{task.pk}/change/")
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {
        name: (field.value() if field.value() is not None else "")
        for name, field in ((n, form[n]) for n in form.fields)
    }
    data.update(
        {
            "title": "Renamed in the admin",
            "comments-TOTAL_FORMS": "0",
            "comments-INITIAL_FORMS": "0",
            "comments-MIN_NUM_FORMS": "0",
            "comments-MAX_NUM_FORMS": "1000",
        }
    )
    response = client.post(f"/admin/tasks_app/task/{task.pk}/change/", data)
    assert response.status_code == 302, response.content[:2000]
    relay_all()

    [item] = [
        i
        for i in entity_items(world.firm.pk, "task", task.pk)
        if i["ev_name"] == names.TASK_UPDATED
    ]
    assert item["actor"]["id"] == world.dora.pk
    assert json.loads(item["context"])["source"] == "admin"


def test_relaying_the_same_events_twice_stores_and_counts_them_once(event_store, world):
    for _ in range(3):
        make_task(world.matter, actor=world.alice)
    first = relay_all()
    assert first.stored == OutboxEvent.objects.count()
    today = timezone.now().date()
    counts_before = event_store.daily_counts(
        firm=f"f_{world.firm.pk}",
        user_id=world.alice.pk,
        start_date=today - dt.timedelta(days=1),
        end_date=today + dt.timedelta(days=1),
        tz="UTC",
    )

    # A relay that died after writing but before marking the rows.
    OutboxEvent.objects.update(stored_at=None, dispatched_at=None)
    second = relay_all()

    assert second.stored == 0
    assert second.duplicates == OutboxEvent.objects.count()
    assert set(all_event_ids().values()) == {1}
    counts_after = event_store.daily_counts(
        firm=f"f_{world.firm.pk}",
        user_id=world.alice.pk,
        start_date=today - dt.timedelta(days=1),
        end_date=today + dt.timedelta(days=1),
        tz="UTC",
    )
    assert counts_after == counts_before
    assert sum(counts_after.values()) == 3


def test_handler_effect_applies_once_even_when_dispatched_twice(event_store, world):
    make_task(world.matter, actor=world.alice)
    relay_all()
    OutboxEvent.objects.update(dispatched_at=None)
    relay_all()
    runs = HandlerRun.objects.filter(handler__startswith="matter_activity:")
    on_matters = [
        row
        for row in OutboxEvent.objects.exclude(firm="f_none")
        if names.family(row.name) in names.MATTER_FAMILIES
    ]
    assert on_matters
    assert runs.count() == len(on_matters)
    world.matter.refresh_from_db()
    assert world.matter.last_activity_at is not None


def test_store_down_keeps_events_with_error_and_backoff_until_it_returns(
    event_store, world, settings
):
    relay_all()  # the world's own setup events
    reachable = dict(settings.EVENT_STORE)
    settings.EVENT_STORE = {**reachable, "ENDPOINT_URL": "http://127.0.0.1:9"}
    event_store.reset_client()
    make_task(world.matter, actor=world.alice)

    down = outbox.relay()

    assert down.failed == 1 and down.stored == 0
    row = OutboxEvent.objects.get(dispatched_at__isnull=True)
    assert row.attempts == 1
    assert "StoreUnavailable" in row.last_error
    assert row.next_attempt_at > timezone.now()
    assert outbox.relay().handled == 0  # backing off, not hammering

    settings.EVENT_STORE = reachable
    event_store.reset_client()
    back = outbox.sweep(ignore_backoff=True)

    assert back.stored == 1
    row.refresh_from_db()
    assert row.is_delivered and row.last_error == ""
    assert all_event_ids()[str(row.event_id)] == 1


def test_an_entity_event_waits_for_its_older_event_to_go_first(event_store, world):
    task = make_task(world.matter, actor=world.alice)
    services.task_update(actor=world.alice, task_id=task.pk, status="IN_PROGRESS")
    other = make_task(world.matter, actor=world.alice)
    created, started = OutboxEvent.objects.filter(entity_key=f"task:{task.pk}")
    created.next_attempt_at = timezone.now() + dt.timedelta(minutes=5)  # backing off
    created.save()

    result = outbox.relay()

    started.refresh_from_db()
    assert result.held_back == 1
    assert started.stored_at is None  # not stored before the event it follows
    assert entity_items(world.firm.pk, "task", other.pk)  # others are not held up
    outbox.sweep(ignore_backoff=True)
    history = sorted(
        entity_items(world.firm.pk, "task", task.pk), key=lambda i: i["sk"]
    )
    assert [i["ev_name"] for i in history] == [names.TASK_CREATED, names.TASK_STARTED]


def test_a_failing_handler_does_not_block_another(event_store, world, monkeypatch):
    seen: list[str] = []

    def broken(event: dict) -> None:
        raise RuntimeError("handler bug")

    def working(event: dict) -> None:
        seen.append(event["id"])

    # A copy of the registry for this test only; the real one is restored.
    monkeypatch.setattr(bus, "_registry", dict(bus._registry))
    bus.subscribe("task.created", name="test_broken")(broken)
    bus.subscribe("task.created", name="test_working")(working)
    make_task(world.matter, actor=world.alice)
    result = relay_all()

    assert result.failed == 0
    assert len(seen) == 1
    assert HandlerRun.objects.filter(handler="test_working").count() == 1
    assert not HandlerRun.objects.filter(handler="test_broken").exists()


def test_committed_changes_relay_after_commit_not_before(
    transactional_db, event_store, world
):
    relay_all()  # the world's own setup events
    before = all_event_ids()
    with transaction.atomic():
        task = make_task(world.matter, actor=world.alice)
        comment = services.comment_create(actor=world.bob, task_id=task.pk, body="Hi")
        assert all_event_ids() == before  # nothing leaves before the commit
    stored = all_event_ids()
    assert sum(stored.values()) == OutboxEvent.objects.count()
    assert names.COMMENT_ADDED in {
        i["ev_name"] for i in user_items(world.firm.pk, world.bob.pk)
    }
    assert Comment.objects.filter(pk=comment.pk).exists()
    assert not OutboxEvent.objects.filter(dispatched_at__isnull=True).exists()


def test_relay_works_in_batches_of_the_configured_size(event_store, world, settings):
    relay_all()  # the world's own setup events
    settings.OUTBOX_BATCH_SIZE = 2
    for _ in range(5):
        make_task(world.matter, actor=world.alice)

    first = outbox.relay()

    assert first.stored == 2 and first.dispatched == 2
    assert outbox.sweep().dispatched == 3  # the sweep drains the rest, batch by batch
    assert not OutboxEvent.objects.filter(dispatched_at__isnull=True).exists()


def test_an_inline_relay_leaves_held_back_events_for_the_next_relay(
    event_store, world, caplog
):
    """Celery eager (make run): no countdown exists, so no relay loop either."""
    from events_app.tasks import relay_outbox

    task = make_task(world.matter, actor=world.alice)
    services.task_update(actor=world.alice, task_id=task.pk, status="IN_PROGRESS")
    created, started = OutboxEvent.objects.filter(entity_key=f"task:{task.pk}")
    created.next_attempt_at = timezone.now() + dt.timedelta(minutes=5)  # backing off
    created.save()

    with celery_eager(True), caplog.at_level(logging.ERROR):
        run = relay_outbox.delay()

    assert run.successful(), run.traceback
    # An inline re-arm would call itself until Python's recursion limit.
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    started.refresh_from_db()
    assert started.stored_at is None  # still waiting for the older event
    assert outbox.sweep(ignore_backoff=True).stored == 2  # the next relay takes both


def test_a_relay_out_of_time_with_rows_left_comes_back_for_them(
    event_store, world, settings, monkeypatch
):
    """Rows committed before any worker listened send no NOTIFY again: a relay
    that stops on its time budget must publish the next one itself."""
    from events_app import tasks as event_tasks

    for _ in range(3):
        make_task(world.matter, actor=world.alice)
    settings.OUTBOX_BATCH_SIZE = 1
    start, ticks = timezone.now(), iter(range(100))
    # Each reading of the clock is 5 s later: a slow machine, a long batch.
    monkeypatch.setattr(
        outbox.timezone,
        "now",
        lambda: start + dt.timedelta(seconds=next(ticks) * 5),
    )
    assert outbox.sweep(max_seconds=12).more  # a batch or two, not all three

    published = []
    monkeypatch.setattr(event_tasks.wakeup, "celery_eager", lambda: False)
    monkeypatch.setattr(event_tasks.wakeup, "disarm_relay", lambda: None)
    monkeypatch.setattr(
        event_tasks.relay_outbox, "delay", lambda: published.append("relay")
    )
    monkeypatch.setattr(
        event_tasks.relay,
        "sweep",
        lambda **kwargs: outbox.RelayResult(dispatched=200, more=True),
    )
    event_tasks.relay_outbox()
    assert published == ["relay"]
