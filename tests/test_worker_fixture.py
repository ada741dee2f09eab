"""The `celery_worker` fixture gives a real worker on the test database."""

from __future__ import annotations

import os
import uuid

import pytest
from django.db import connection, transaction

from hivelight.celery import app as celery_app
from tasks_app.models import Firm
from tests.fixtures.factories import make_firm
from tests.fixtures.worker import PROBE_TASK

pytestmark = pytest.mark.services


def test_worker_runs_tasks_in_its_own_process_on_the_test_database(celery_worker):
    firm = make_firm("Committed LLP")

    seen = celery_worker.probe()

    assert seen["pid"] == celery_worker.pid != os.getpid()
    assert seen["vendor"] == "postgresql"
    assert seen["database"] == connection.settings_dict["NAME"]
    assert seen["database"].startswith("test_")
    assert firm.slug in seen["firm_slugs"]
    assert seen["always_eager"] is False


def test_test_process_publishes_instead_of_running_inline(celery_worker):
    assert celery_app.conf.task_always_eager is False


def test_task_enqueued_on_commit_runs_only_after_the_commit(celery_worker):
    from tests.fixtures.worker import _redis

    key = f"probe-{uuid.uuid4().hex}"
    client = _redis(celery_app)
    with transaction.atomic():
        firm = make_firm("Late Arrival LLP")
        transaction.on_commit(lambda: celery_app.send_task(PROBE_TASK, args=[key]))
        # Nothing is published before the commit.
        assert client.get(key) is None

    raw = celery_worker.wait_for(lambda: client.get(key), message="probe after commit")
    assert firm.slug in raw.decode()


def test_rolled_back_work_is_invisible_to_the_worker(celery_worker):
    kept = make_firm("Kept LLP")
    with pytest.raises(RuntimeError), transaction.atomic():
        dropped = make_firm("Never Was LLP")
        raise RuntimeError("roll back")

    seen = celery_worker.probe()

    assert not Firm.objects.filter(pk=dropped.pk).exists()
    assert seen["firm_slugs"] == [kept.slug]


def test_killed_worker_stops_answering_and_restarts_as_a_new_process(celery_worker):
    first_pid = celery_worker.pid

    celery_worker.kill()

    assert not celery_worker.running
    assert not celery_worker.ping(timeout=0.5)

    celery_worker.restart()

    assert celery_worker.running
    assert celery_worker.probe()["pid"] == celery_worker.pid != first_pid
    assert celery_worker.log().count("=== starting") == 2


def test_stop_is_graceful_and_idempotent(celery_worker):
    celery_worker.stop()
    celery_worker.stop()

    assert celery_worker.process.returncode == 0
    assert "warm shutdown" in celery_worker.log().lower()


@pytest.fixture
def custom_event_store(settings):
    """Stands in for the `event_store` fixture: settings changed before the worker."""
    settings.EVENT_STORE = {
        "ENDPOINT_URL": "http://127.0.0.1:1",
        "REGION": "eu-west-1",
        "TABLE_PREFIX": f"t{uuid.uuid4().hex[:8]}_",
    }
    return settings.EVENT_STORE


def test_worker_uses_the_event_store_of_the_test(custom_event_store, celery_worker):
    assert celery_worker.probe()["event_store"] == custom_event_store


def test_wait_for_fails_with_the_worker_log(celery_worker):
    with pytest.raises(pytest.fail.Exception) as failure:
        celery_worker.wait_for(lambda: False, timeout=0.2, message="never")

    assert "never: not true within 0.2 s" in str(failure.value)
    assert "celery worker log" in str(failure.value)


def test_the_shared_world_is_visible_to_the_worker(world, celery_worker):
    seen = celery_worker.probe()

    assert set(seen["firm_slugs"]) == {world.firm.slug, world.other_firm.slug}
