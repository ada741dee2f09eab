"""verify_audit_trail: per period ok or the exact findings; non-zero on any."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command

from events_app.seals import chain
from tests.events_app.seals import helpers
from tests.events_app.seals.helpers import delete_event, seals_of, set_attribute

trail = helpers.trail


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("verify_audit_trail", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def failing(*args: str) -> tuple[str, CommandError]:
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError) as failure:
        call_command("verify_audit_trail", *args, stdout=out, stderr=err)
    return out.getvalue(), failure.value


def test_a_clean_trail_is_ok_period_by_period(trail, world):
    out, err = run("--firm", str(world.firm.pk))

    assert out.splitlines() == [
        f"Audit trail of Hartley & Vale (f_{world.firm.pk}), in Europe/London",
        "2023-03-10  seal #1  6 events  ok",
        "2023-03-11  seal #2  9 events  ok",
        "2023-03-12  seal #3  0 events  ok",
        "2023-03-13  seal #4  5 events  ok",
        "2023-03-14  seal #5  4 events  ok",
        "5 seals checked; sealed through 2023-03-14: ok",
    ]
    assert "[5/5] 2023-03-14: verified" in err


def test_findings_name_the_events_and_exit_non_zero(trail, world):
    changed = trail.on("2023-03-11")[3]
    removed = trail.on("2023-03-13")[0]
    set_attribute(changed, "occurred_at", "2023-03-11T23:59:59.000000Z")
    delete_event(removed)

    out, error = failing("--firm", str(world.firm.pk), "--from", "2023-03-11")

    assert error.returncode == 1
    assert "2 findings" in str(error)
    lines = out.splitlines()
    assert "2023-03-11  seal #2  9 events  FAILED" in lines
    assert (
        f"  changed {changed['id']} (sealed as of {changed['occurred_at']}, "
        "stored as of 2023-03-11T23:59:59.000000Z)"
    ) in lines
    assert "2023-03-13  seal #4  5 events  FAILED" in lines
    assert f"  removed {removed['id']}" in lines
    assert "2023-03-12  seal #3  0 events  ok" in lines
    assert lines[-1] == "4 seals checked; sealed through 2023-03-14: 2 findings"


def test_the_command_exits_1_as_a_process(transactional_db, trail, world):
    """What a script or a scheduler sees: the process's exit status."""
    from django.conf import settings
    from django.db import connection

    from tests.fixtures.worker import _database_url

    if connection.vendor != "postgresql":
        pytest.skip("the command's process reads the test database: PostgreSQL")
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(connection.settings_dict),
        "DYNAMODB_ENDPOINT_URL": settings.EVENT_STORE["ENDPOINT_URL"],
        "EVENT_TABLE_PREFIX": settings.EVENT_STORE["TABLE_PREFIX"],
        "LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "manage.py", "verify_audit_trail", "--firm"]
    clean = subprocess.run(
        [*command, str(world.firm.pk)], env=env, capture_output=True, text=True
    )
    delete_event(trail.on("2023-03-10")[0])
    tampered = subprocess.run(
        [*command, str(world.firm.pk)], env=env, capture_output=True, text=True
    )

    assert clean.returncode == 0, clean.stderr
    assert tampered.returncode == 1
    assert "2023-03-10  seal #1  6 events  FAILED" in tampered.stdout
    assert "does not verify: 1 findings" in tampered.stderr


def test_a_published_chain_catches_a_removed_last_day(trail, world, tmp_path):
    chain_file = tmp_path / "chain.json"
    chain_file.write_text(
        json.dumps(
            {"seals": [chain.record(s.body, s.hash) for s in seals_of(trail.firm)]}
        )
    )
    for event in trail.on("2023-03-14", sealed=False):
        delete_event(event)
    helpers.delete_seal_item(trail.firm, "2023-03-14")

    run("--firm", str(world.firm.pk))
    out, error = failing("--firm", str(world.firm.pk), "--published", str(chain_file))

    assert "seal #5 of 2023-03-14 is in the published chain" in out
    assert error.returncode == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--firm", "987654"], "no firm with id 987654"),
        (["--from", "2023-03-12", "--to", "2023-03-11"], "--from is after --to"),
        (["--from", "yesterday"], "dates are YYYY-MM-DD"),
        (["--published", "/nonexistent/chain.json"], "cannot read the seal chain"),
    ],
)
def test_bad_input_is_a_clear_error(trail, world, args, message):
    if "--firm" not in args:
        args = ["--firm", str(world.firm.pk), *args]

    with pytest.raises(CommandError, match=message):
        call_command("verify_audit_trail", *args, stdout=io.StringIO())


def test_a_file_that_is_not_a_chain_is_refused(trail, world, tmp_path):
    bogus = tmp_path / "bogus.json"
    bogus.write_text('{"hello": 1}')

    with pytest.raises(CommandError, match="is not a seal chain"):
        run("--firm", str(world.firm.pk), "--published", str(bogus))


def test_the_help_says_what_it_does():
    result = subprocess.run(
        [sys.executable, "manage.py", "verify_audit_trail", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "Exits with status 1 on any finding" in " ".join(result.stdout.split())
