"""DynamoDB Local from node_modules: starts, answers, stops; and its CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from events_app.store import local as dynamo_local
from events_app.store.local import DynamoDBLocal, DynamoDBLocalError, is_running

pytestmark = pytest.mark.services

BASE_DIR = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def _needs_java_and_jar():
    from tests.conftest import service_unavailable

    try:
        dynamo_local.find_java()
        dynamo_local.find_jar()
    except DynamoDBLocalError as exc:
        service_unavailable(str(exc))


def test_it_starts_in_memory_on_a_free_port_answers_and_stops():
    server = DynamoDBLocal(max_heap_mb=256)

    with server:
        assert server.running
        assert is_running(server.endpoint_url)
        endpoint = server.endpoint_url

    assert not server.running
    assert not is_running(endpoint)
    server.stop()  # idempotent


def test_it_keeps_data_on_disk_across_restarts_with_a_db_path(tmp_path, settings):
    from events_app import store

    port = dynamo_local.free_port()
    settings.EVENT_STORE = {
        **settings.EVENT_STORE,
        "ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "TABLE_PREFIX": "disk_",
    }
    event = {
        "id": "e-1",
        "name": "task.created",
        "version": 1,
        "occurred_at": "2023-03-29T17:31:09.123456Z",
        "firm": "f_1",
        "actor": {"id": 7, "name": "Bob"},
        "subject": {"type": "task", "id": 1, "label": "My task"},
        "matter": None,
        "changes": {},
        "context": {},
    }
    with DynamoDBLocal(port=port, db_path=str(tmp_path / "db"), max_heap_mb=256):
        store.ensure_tables()
        store.put_events([event])

    with DynamoDBLocal(port=port, db_path=str(tmp_path / "db"), max_heap_mb=256):
        assert store.query_user_events(firm="f_1", user_id=7).items == [event]
    store.reset_client()


def test_nothing_answering_is_not_running():
    assert not is_running(f"http://127.0.0.1:{dynamo_local.free_port()}")


def test_missing_java_or_jar_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("DYNAMODB_LOCAL_JAR", str(tmp_path / "nope.jar"))
    with pytest.raises(DynamoDBLocalError, match="DYNAMODB_LOCAL_JAR"):
        DynamoDBLocal().start()

    monkeypatch.delenv("DYNAMODB_LOCAL_JAR")
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(DynamoDBLocalError, match="java not found"):
        DynamoDBLocal().start()


def test_the_cli_runs_in_the_foreground_until_terminated(tmp_path):
    port = dynamo_local.free_port()
    endpoint = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "events_app.store.local",
            "--port",
            str(port),
            "--db-path",
            str(tmp_path / "db"),
            "--max-heap-mb",
            "256",
        ],
        cwd=BASE_DIR,
        env={**os.environ, "PYTHONPATH": str(BASE_DIR)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen = []
    try:
        # The CLI itself gives up after its startup timeout, ending the output.
        for line in process.stdout:
            seen.append(line)
            if line.startswith("DynamoDB Local ready at"):
                break
        assert f"DynamoDB Local ready at {endpoint}" in "".join(seen)
        assert is_running(endpoint)
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)

    assert process.returncode == 0, "".join(seen) + output
    assert not is_running(endpoint)
