"""Audit seals: the seals page, the chain download, exports with inclusion proofs,
and docs/verify.md's standalone script run on real exports."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from events_app import store
from events_app.history import audit as views
from events_app.seals import chain, merkle
from events_app.seals.canonical import canonical_json, event_digest, seal_hash
from tests.events_app.event_helpers import at, envelope_event
from tests.events_app.seals import helpers
from tests.events_app.seals.helpers import (
    DAYS,
    delete_seal_item,
    put_seal_item,
    seal_body,
    seal_item,
    set_attribute,
)

trail = helpers.trail
DOCS = Path(__file__).resolve().parents[3] / "docs" / "verify.md"
RANGE = "date_from=2023-03-09&date_to=2023-03-15"


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def export(user, query: str = RANGE, fmt: str = "jsonl") -> str:
    response = client_for(user).get(f"/audit/export.{fmt}?{query}&proofs=1")
    assert response.status_code == 200, response.content
    return b"".join(response.streaming_content).decode()


@pytest.fixture
def today_too(trail, world):
    """Events of the 15th, whose day is not sealed (the trail stops at the 14th)."""
    fresh = helpers.day_events(world, "2023-03-15", 2)
    store.put_events(fresh)
    return fresh


@pytest.fixture
def script(tmp_path) -> Path:
    """docs/verify.md's script, exactly as the page shows it."""
    text = DOCS.read_text(encoding="utf-8")
    (block,) = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    path = tmp_path / "check_export.py"
    path.write_text(block, encoding="utf-8")
    return path


def run_script(script: Path, *files: Path) -> subprocess.CompletedProcess[str]:
    # -I -S: no site packages, no user paths: the standard library only.
    return subprocess.run(
        [sys.executable, "-I", "-S", str(script), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=60,
    )


# --- the export's proofs ------------------------------------------------------------


def test_each_exported_event_carries_a_proof_that_verifies_against_its_seal(
    trail, world, connie, today_too
):
    lines = [json.loads(line) for line in export(connie).splitlines()]

    by_id = {line["event"]["id"]: line for line in lines}
    assert len(lines) == len(trail.events) + len(today_too)
    for day in DAYS:
        for event in trail.on(day):
            line = by_id[event["id"]]
            proof, seal = line["proof"], line["seal"]
            assert seal["period"] == day
            assert seal["hash"] == seal_hash({k: seal[k] for k in chain.BODY_KEYS})
            assert merkle.verify_inclusion(
                event_digest(line["event"]),
                proof["leaf_index"],
                proof["tree_size"],
                [bytes.fromhex(n) for n in proof["audit_path"]],
                bytes.fromhex(seal["root"]),
            )
            assert proof["late"] is False
    views_ = [line for line in lines if line["event"]["name"] == "task.viewed"]
    assert views_ and all(
        line["proof"] is None
        and line["unsealed"] == "task.viewed events are never sealed"
        for line in views_
    )
    for event in today_too:
        assert (
            by_id[event["id"]]["unsealed"] == "not sealed yet: its period is still open"
        )


def test_a_late_event_is_proved_against_the_later_seal_that_holds_it(
    trail, world, connie
):
    late = envelope_event(at(2023, 3, 12, 10), firm_id=world.firm.pk, actor=world.bob)
    store.put_events([late])
    helpers.seal(world, until=dt.date(2023, 3, 15))

    lines = [json.loads(line) for line in export(connie).splitlines()]

    (line,) = [line for line in lines if line["event"]["id"] == late["id"]]
    assert line["seal"]["period"] == "2023-03-15"
    assert line["proof"]["late"] is True
    assert line["proof"]["leaf_index"] == 0


def test_the_csv_export_carries_the_same_proofs(trail, world, connie):
    rows = list(csv.DictReader(io.StringIO(export(connie, fmt="csv"))))

    assert list(rows[0]) == views.EXPORT_COLUMNS + views.PROOF_COLUMNS
    sealed = [r for r in rows if r["seal_hash"]]
    assert len(sealed) == sum(len(trail.on(d)) for d in DAYS)
    for row in sealed:
        event = json.loads(row["event_json"])
        assert canonical_json(event).decode() == row["event_json"]
        assert event_digest(event).hex() == row["event_sha256"]
        seal = json.loads(row["seal_json"])
        assert seal_hash(seal) == row["seal_hash"]
        assert merkle.verify_inclusion(
            bytes.fromhex(row["event_sha256"]),
            int(row["leaf_index"]),
            int(row["tree_size"]),
            [bytes.fromhex(n) for n in row["audit_path"].split()],
            bytes.fromhex(row["seal_root"]),
        )
    assert {r["unsealed"] for r in rows if not r["seal_hash"]} == {
        "task.viewed events are never sealed"
    }


def test_proofs_are_made_only_for_the_events_the_export_includes(trail, world):
    """Walls and filters stay as they are: a narrower export proves no more."""
    everything = [json.loads(line) for line in export(world.dora).splitlines()]
    assert {line["event"]["matter"]["id"] for line in everything} == {world.matter.pk}
    query = f"{RANGE}&matter={world.matter.pk}"

    lines = [json.loads(line) for line in export(world.dora, query).splitlines()]

    expected = [
        e for e in trail.events if (e["matter"] or {}).get("id") == world.matter.pk
    ]
    assert sorted(line["event"]["id"] for line in lines) == sorted(
        e["id"] for e in expected
    )
    walled_ids = {
        e["id"]
        for e in trail.events
        if (e["matter"] or {}).get("id") == world.walled.pk
    }
    text = json.dumps(lines)
    assert not any(event_id in text for event_id in walled_ids)


def test_without_the_option_the_export_is_unchanged(trail, world):
    response = client_for(world.dora).get(f"/audit/export.jsonl?{RANGE}")
    lines = b"".join(response.streaming_content).decode().splitlines()

    assert all("proof" not in json.loads(line) for line in lines)
    assert json.loads(lines[0])["id"]


def test_a_bad_proofs_flag_is_a_400(trail, world):
    response = client_for(world.dora).get(f"/audit/export.csv?{RANGE}&proofs=maybe")

    assert response.status_code == 400
    assert "“proofs” is 1 or 0" in response.content.decode()


def test_only_auditors_may_export_proofs(trail, world):
    assert (
        client_for(world.alice).get("/audit/export.jsonl?proofs=1").status_code == 403
    )
    assert (
        client_for(world.oscar).get("/audit/export.jsonl?proofs=1").status_code == 403
    )


# --- docs/verify.md's script ---------------------------------------------------------


def test_the_documented_script_checks_a_real_export(
    trail, world, connie, today_too, tmp_path, script
):
    exported = tmp_path / "export.jsonl"
    exported.write_text(export(connie), encoding="utf-8")
    chain_file = tmp_path / "chain.json"
    chain_file.write_bytes(
        client_for(world.dora).get("/audit/seals/chain.json").content
    )

    alone = run_script(script, exported)
    with_chain = run_script(script, exported, chain_file)

    sealed = sum(len(trail.on(d)) for d in DAYS)
    unsealed = len(trail.events) - sealed + len(today_too)
    for result in (alone, with_chain):
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.splitlines()[-1] == (
            f"{sealed} ok, 0 failed, 0 redacted, {unsealed} not sealed"
        )


def test_the_script_fails_an_event_changed_in_the_store(
    trail, world, connie, tmp_path, script
):
    victim = trail.on("2023-03-13")[1]
    set_attribute(victim, "actor", {"id": world.carol.pk, "name": "Carol King"})
    exported = tmp_path / "export.jsonl"
    exported.write_text(export(connie), encoding="utf-8")

    result = run_script(script, exported)

    assert result.returncode == 1
    failed = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert failed == [f"FAIL {victim['id']} not the event sealed in 2023-03-13"]


def test_the_script_fails_an_export_edited_by_one_byte(
    trail, world, connie, tmp_path, script
):
    lines = export(connie).splitlines()
    target = next(i for i, line in enumerate(lines) if '"proof": {' in line)
    record = json.loads(lines[target])
    record["event"]["subject"]["label"] = record["event"]["subject"]["label"][:-1] + "X"
    lines[target] = json.dumps(record, ensure_ascii=False)
    exported = tmp_path / "export.jsonl"
    exported.write_text("\n".join(lines) + "\n", encoding="utf-8")

    result = run_script(script, exported)

    assert result.returncode == 1
    assert f"FAIL {record['event']['id']} not the event sealed in" in result.stdout


def test_the_script_catches_a_reforged_seal_with_the_chain_held_before(
    trail, world, tmp_path, script
):
    """Someone rewrites an event and re-seals its day consistently: the
    export checks out on its own, but not against the chain handed over."""
    chain_file = tmp_path / "chain.json"
    chain_file.write_bytes(
        client_for(world.dora).get("/audit/seals/chain.json").content
    )
    victim = trail.on("2023-03-10")[0]
    set_attribute(victim, "subject", {**victim["subject"], "label": "Rewritten"})
    old = seal_item(trail.firm, "2023-03-10")
    events = [
        e
        if e["id"] != victim["id"]
        else victim | {"subject": {**victim["subject"], "label": "Rewritten"}}
        for e in trail.on("2023-03-10")
    ]
    leaves = [chain.leaf_of(e) for e in events]
    body = {
        **seal_body(old),
        "root": chain.root_hex(leaves),
        "index": chain.index_hash(leaves),
    }
    delete_seal_item(trail.firm, "2023-03-10")
    store.put_seal(
        firm=trail.firm,
        period="2023-03-10",
        body_text=canonical_json(body).decode(),
        hash=seal_hash(body),
        leaves=leaves,
    )
    exported = tmp_path / "export.jsonl"
    exported.write_text(
        export(world.dora, "date_from=2023-03-10&date_to=2023-03-10"), encoding="utf-8"
    )

    alone = run_script(script, exported)
    against_chain = run_script(script, exported, chain_file)

    assert alone.returncode == 0
    assert against_chain.returncode == 1
    assert "its seal (2023-03-10) is not the published one" in against_chain.stdout


# --- the seals page and the chain download ------------------------------------------


def test_firm_admins_see_their_firms_seals_newest_first(trail, world):
    response = client_for(world.dora).get("/audit/seals/")
    html = response.content.decode()

    assert response.status_code == 200
    assert re.findall(r'<tr id="seal-([0-9-]+)">', html) == list(reversed(DAYS))
    head = store.latest_seal(firm=trail.firm)
    assert "Sealed through 2023-03-14" in html
    assert f'<code class="seal-hash">{head.hash}</code>' in html
    assert "altered" not in html


def test_a_seal_altered_by_hand_is_flagged_on_the_page(trail, world):
    item = seal_item(trail.firm, "2023-03-11")
    body = seal_body(item) | {"size": 3}
    put_seal_item({**item, "body": {"S": canonical_json(body).decode()}})

    html = client_for(world.dora).get("/audit/seals/").content.decode()

    row = re.search(r'<tr id="seal-2023-03-11">(.*?)</tr>', html, re.DOTALL).group(1)
    assert "altered: run verify_audit_trail" in row
    assert html.count("altered: run verify_audit_trail") == 1


def test_the_seals_page_pages_with_a_cursor(trail, world, monkeypatch):
    monkeypatch.setattr(views, "SEALS_PAGE", 2)
    client = client_for(world.dora)
    seen, url = [], "/audit/seals/"
    while url:
        html = client.get(url).content.decode()
        seen += re.findall(r'<tr id="seal-([0-9-]+)">', html)
        found = re.search(r'href="([^"]+cursor=[^"]+)">Older', html)
        url = found.group(1).replace("&amp;", "&") if found else None

    assert seen == list(reversed(DAYS))
    assert client.get("/audit/seals/?cursor=forged").status_code == 400


def admin_of(firm):
    from tasks_app.models import Membership
    from tests.fixtures.factories import make_user

    return make_user(firm, "olga", Membership.Role.FIRM_ADMIN)


def test_only_auditors_see_seals_and_never_another_firms(trail, world):
    assert client_for(world.alice).get("/audit/seals/").status_code == 403
    assert client_for(world.alice).get("/audit/seals/chain.json").status_code == 403
    assert Client().get("/audit/seals/").status_code == 302
    oscar_admin = admin_of(world.other_firm)
    html = client_for(oscar_admin).get("/audit/seals/").content.decode()
    assert "Nothing is sealed yet" in html
    document = client_for(oscar_admin).get("/audit/seals/chain.json").json()
    assert document["seals"] == []


def test_the_chain_downloads_as_a_file_a_third_party_can_check(trail, world):
    response = client_for(world.dora).get("/audit/seals/chain.json")

    assert response.status_code == 200
    assert response["Content-Disposition"] == (
        f'attachment; filename="hivelight-seals-{world.firm.slug}-2023-03-14.json"'
    )
    document = json.loads(response.content)
    assert document["format"] == "hivelight-seal-chain"
    assert document["firm_name"] == "Hartley & Vale"
    assert document["genesis"] == chain.GENESIS
    seals = document["seals"]
    assert [s["period"] for s in seals] == DAYS
    prev = chain.GENESIS
    for seal in seals:
        assert seal["prev"] == prev
        assert seal_hash({k: v for k, v in seal.items() if k != "hash"}) == seal["hash"]
        prev = seal["hash"]


def test_the_seals_pages_say_so_when_the_store_is_down(world):
    client = client_for(world.dora)

    assert client.get("/audit/seals/").status_code == 503
    assert client.get("/audit/seals/chain.json").status_code == 503
    assert client.get("/audit/export.jsonl?proofs=1").status_code == 503


def test_a_deleted_comments_text_is_withheld_yet_its_place_in_the_seal_is_proven(
    trail, world, connie, tmp_path, script
):
    """Someone who may not read deleted comments gets its event redacted, and
    the script says what that proves; a compliance officer's export of the
    same day checks out byte for byte."""
    gone = envelope_event(
        at(2023, 3, 9, 11),
        "comment.added",
        firm_id=world.firm.pk,
        actor=world.bob,
        matter=world.matter,
        subject_type="comment",
        subject_id=987654,  # no such comment any more: deleted
        changes={"body": [None, "Settle at 40k, not a penny more"]},
    )
    store.put_events([gone])
    helpers.seal(world, until=dt.date(2023, 3, 15))
    day = "date_from=2023-03-09&date_to=2023-03-09"
    for who, verdict in ((world.dora, "REDACTED"), (connie, "ok")):
        exported = tmp_path / f"{who.username}.jsonl"
        exported.write_text(export(who, day), encoding="utf-8")

        result = run_script(script, exported)

        assert result.returncode == 0, result.stdout
        (line,) = [x for x in result.stdout.splitlines() if gone["id"] in x]
        assert line.startswith(f"{verdict} {gone['id']} ")
        shown = exported.read_text(encoding="utf-8")
        assert ("40k" in shown) is (who == connie)
