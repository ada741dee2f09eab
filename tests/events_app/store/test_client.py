"""A store that cannot be reached fails fast and says so."""

from __future__ import annotations

import time

import pytest

from events_app import store
from tests.events_app.store.helpers import (
    FIRM,
    at,
    make_event,
)

pytestmark = pytest.mark.services


def test_ensure_tables_is_idempotent(event_store):
    event = make_event(at(2023, 1, 1))
    event_store.put_events([event])

    event_store.ensure_tables()

    assert event_store.query_user_events(firm=FIRM, user_id=7).items == [event]


def test_a_stopped_store_raises_store_unavailable_quickly(event_store, settings):
    from events_app.store.local import DynamoDBLocal, DynamoDBLocalError

    server = DynamoDBLocal(max_heap_mb=256)
    try:
        server.start()
    except DynamoDBLocalError as exc:
        pytest.skip(str(exc))
    shared = settings.EVENT_STORE
    settings.EVENT_STORE = {**shared, "ENDPOINT_URL": server.endpoint_url}
    try:
        try:
            event_store.ensure_tables()
            event_store.put_events([make_event(at(2023, 1, 1))])
        finally:
            server.stop()

        started = time.monotonic()
        with pytest.raises(store.StoreUnavailable, match="unreachable"):
            event_store.put_events([make_event(at(2023, 1, 2))])
        with pytest.raises(store.StoreUnavailable):
            event_store.query_user_events(firm=FIRM, user_id=7)
        assert time.monotonic() - started < 6
    finally:
        settings.EVENT_STORE = shared


def test_the_ensure_event_tables_command_can_run_again(event_store):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("ensure_event_tables", stdout=out)
    call_command("ensure_event_tables", "--wait", "1", stdout=out)

    names = event_store.table_names()
    assert out.getvalue().count(f"{names.events}, {names.counts}") == 2
