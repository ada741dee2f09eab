"""Audit seals in a real browser: a firm admin downloads an export with proofs
and the seal chain, and docs/verify.md's script accepts both.

The export form sends the search as hidden fields, a "With seal proofs"
checkbox and one button per format (`formaction`): this checks that a real
browser submits it that way and gets the files as downloads.

The page server (`asgi_server`) is one per module and reads the event store
named by its environment, so this module gives it and the test process one
shared store: a table prefix of its own, set before daphne starts.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings

from tests.events_app.seals.helpers import day_events
from tests.fixtures.factories import World

pytestmark = [
    pytest.mark.browser,
    pytest.mark.services,
    pytest.mark.django_db(transaction=True),
]

DOCS = Path(__file__).resolve().parents[2] / "docs" / "verify.md"


@pytest.fixture(scope="module", autouse=True)
def module_store(dynamodb_local: Any) -> Iterator[dict[str, str]]:
    """Tables for this module, named in the environment daphne starts with."""
    from django.conf import settings

    from events_app import store

    conf = {
        **settings.EVENT_STORE,
        "ENDPOINT_URL": dynamodb_local.endpoint_url,
        "TABLE_PREFIX": f"seal{uuid.uuid4().hex[:10]}_",
    }
    saved = {
        k: os.environ.get(k) for k in ("DYNAMODB_ENDPOINT_URL", "EVENT_TABLE_PREFIX")
    }
    os.environ["DYNAMODB_ENDPOINT_URL"] = conf["ENDPOINT_URL"]
    os.environ["EVENT_TABLE_PREFIX"] = conf["TABLE_PREFIX"]
    with override_settings(EVENT_STORE=conf):
        store.reset_client()
        store.ensure_tables()
    try:
        yield conf
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        with override_settings(EVENT_STORE=conf):
            store.delete_tables()
        store.reset_client()


@pytest.fixture
def sealed(module_store: dict[str, str], settings: Any, world: World) -> None:
    """Three sealed London days of the firm's events, in the module's store."""
    from events_app import store
    from events_app.seals import sealing

    settings.EVENT_STORE = module_store
    store.reset_client()
    events = [
        e
        for day in ("2023-03-10", "2023-03-11", "2023-03-12")
        for e in day_events(world, day, 4)
    ]
    store.put_events(events)
    sealing.seal_firm(firm_id=world.firm.pk, until=dt.date(2023, 3, 12))


def check_script(tmp_path: Path, *files: str) -> subprocess.CompletedProcess[str]:
    (block,) = re.findall(r"```python\n(.*?)```", DOCS.read_text(), flags=re.DOTALL)
    script = tmp_path / "check_export.py"
    script.write_text(block)
    return subprocess.run(
        [sys.executable, "-I", "-S", str(script), *files],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_an_admin_downloads_an_export_with_proofs_and_the_chain_that_checks_it(
    sealed: None, open_as: Any, tmp_path: Path, world: World
) -> None:
    page = open_as("dora")
    page.goto("/audit/?date_from=2023-03-10&date_to=2023-03-12")
    page.get_by_label("With seal proofs").check()
    with page.expect_download() as download:
        page.get_by_role("button", name="Export JSON Lines").click()
    export = tmp_path / "export.jsonl"
    download.value.save_as(export)

    page.goto("/audit/seals/")
    assert page.locator("h2#seal-head-heading").inner_text() == (
        "Sealed through 2023-03-12"
    )
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the seal chain").click()
    chain = tmp_path / "chain.json"
    download.value.save_as(chain)

    lines = [json.loads(line) for line in export.read_text().splitlines()]
    # Half the days' events are on the walled matter, which dora is outside of.
    assert len(lines) == 6
    assert {line["event"]["matter"]["id"] for line in lines} == {world.matter.pk}
    assert all(line["proof"] and line["seal"] for line in lines)
    assert [s["period"] for s in json.loads(chain.read_text())["seals"]] == [
        "2023-03-10",
        "2023-03-11",
        "2023-03-12",
    ]
    result = check_script(tmp_path, str(export), str(chain))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == "6 ok, 0 failed, 0 redacted, 0 not sealed"


def test_without_the_box_ticked_the_export_is_plain_csv(
    sealed: None, open_as: Any, tmp_path: Path
) -> None:
    page = open_as("dora")
    page.goto("/audit/?date_from=2023-03-10&date_to=2023-03-12")
    with page.expect_download() as download:
        page.get_by_role("button", name="Export CSV").click()
    path = tmp_path / "export.csv"
    download.value.save_as(path)

    header = path.read_text().splitlines()[0]
    assert download.value.suggested_filename == (
        "hivelight-audit-2023-03-10-2023-03-12.csv"
    )
    assert header.startswith("occurred_at,id,name")
    assert "seal_hash" not in header
