"""Audit: firm admins and compliance officers search the firm's events and
export them, streamed. Walled matters exist only for compliance officers
(each read recorded); for firm admins outside the wall they do not."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re

import pytest
from django.http import StreamingHttpResponse
from django.test import Client

from events_app import names
from events_app.history import audit as views
from events_app.models import OutboxEvent
from tasks_app.models import Membership
from tests.events_app.event_helpers import at, envelope_event
from tests.fixtures.factories import make_user

PAGE_ROWS = re.compile(r'<tr id="event-([0-9a-f-]+)">')


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def firm_events(world, event_store, settings):
    """Three weeks of the firm's events: people, the system, both matters."""
    # Page views of 2023 would have expired (TTL) and may vanish mid-test.
    settings.TASK_VIEWED_RETENTION_DAYS = 100 * 365
    people = [world.alice, world.bob, world.carol, None]
    kinds = [
        "task.created",
        "task.completed",
        "comment.added",
        "task.viewed",
        "task.moved",
        "milestone.updated",
        "user.logged_in",
    ]
    events = []
    for i in range(150):
        name = kinds[i % len(kinds)]
        events.append(
            envelope_event(
                at(2023, 3, 10, 6) + dt.timedelta(hours=3 * i + 1),
                name,
                firm_id=world.firm.pk,
                actor=people[i % len(people)],
                matter=None
                if name == "user.logged_in"
                else [world.matter, world.walled][i % 2],
                subject_type=name.split(".")[0] if name != "user.logged_in" else "user",
                subject_id=100 + i % 6,
                label="=HYPERLINK(1)" if i == 36 else f"Thing {i % 6}",
                parent={"type": "task", "id": 100, "label": "Thing 0"}
                if name.startswith("comment.")
                else None,
            )
        )
    foreign = envelope_event(
        at(2023, 3, 15, 12), firm_id=world.other_firm.pk, actor=world.oscar
    )
    event_store.put_events([*events, foreign])
    return events


def newest_first(events):
    return sorted(events, key=lambda e: (e["occurred_at"], e["id"]), reverse=True)


def selection(events, start: str, end: str, keep=lambda e: True):
    """Events of local (London) days start..end, as the audit form means them."""
    import zoneinfo

    zone = zoneinfo.ZoneInfo("Europe/London")

    def local_day(e):
        moment = dt.datetime.strptime(e["occurred_at"], "%Y-%m-%dT%H:%M:%S.%fZ")
        return moment.replace(tzinfo=dt.UTC).astimezone(zone).date().isoformat()

    return newest_first([e for e in events if start <= local_day(e) <= end and keep(e)])


def unwalled(world):
    return lambda e: (e["matter"] or {}).get("id") != world.walled.pk


def walled_reads(user) -> list[dict]:
    """The recorded reads of walled matters by `user`, oldest first."""
    return [
        row.payload
        for row in OutboxEvent.objects.filter(
            name=names.AUDIT_WALLED_MATTER_VIEWED
        ).order_by("seq")
        if row.payload["actor"]["id"] == user.pk
    ]


def all_rows(client: Client, query: str) -> list[str]:
    ids: list[str] = []
    url = f"/audit/?{query}"
    while url:
        html = client.get(url).content.decode()
        ids += PAGE_ROWS.findall(html)
        found = re.search(r'href="([^"]+cursor=[^"]+)">Older', html)
        url = found.group(1).replace("&amp;", "&") if found else None
    return ids


def test_only_firm_admins_compliance_officers_and_staff_members_may_audit(
    world, connie, firm_events
):
    staff = make_user(world.firm, "sam", Membership.Role.ASSOCIATE)
    staff.is_staff = True
    staff.save()
    rootless = make_user(None, "root")
    rootless.is_staff = True
    rootless.save()

    assert client_for(world.dora).get("/audit/").status_code == 200
    assert client_for(connie).get("/audit/").status_code == 200
    assert client_for(staff).get("/audit/").status_code == 200
    assert client_for(world.alice).get("/audit/").status_code == 403
    assert client_for(rootless).get("/audit/").status_code == 403
    assert client_for(world.alice).get("/audit/export.csv").status_code == 403
    assert Client().get("/audit/").status_code == 302


@pytest.mark.parametrize(
    ("params", "keep"),
    [
        ({}, lambda e: True),
        ({"user": "bob"}, lambda e: e["actor"]["name"] == "Bob Stone"),
        ({"user": "system"}, lambda e: e["actor"]["id"] is None),
        (
            {"matter": "walled"},
            lambda e: (e["matter"] or {}).get("label", "").startswith("HV-002"),
        ),
        ({"name": "task."}, lambda e: e["name"].startswith("task.")),
        ({"name": "task.completed"}, lambda e: e["name"] == "task.completed"),
        (
            {"user": "alice", "name": "comment."},
            lambda e: (
                e["actor"]["name"] == "Alice Hartley"
                and e["name"].startswith("comment.")
            ),
        ),
    ],
)
def test_the_search_pages_through_exactly_the_selection(
    world, connie, firm_events, params, keep
):
    query = {"date_from": "2023-03-12", "date_to": "2023-03-25"}
    if "user" in params:
        query["user"] = (
            "system"
            if params["user"] == "system"
            else getattr(world, params["user"]).pk
        )
    if "matter" in params:
        query["matter"] = world.walled.pk
    if "name" in params:
        query["name"] = params["name"]
    encoded = "&".join(f"{k}={v}" for k, v in query.items())

    everything = selection(firm_events, "2023-03-12", "2023-03-25", keep)
    assert all_rows(client_for(connie), encoded) == [e["id"] for e in everything]
    assert everything
    # The firm admin is outside the wall: its matter is not even a choice.
    outside = [e["id"] for e in everything if unwalled(world)(e)]
    assert all_rows(client_for(world.dora), encoded) == outside
    if "matter" in params:
        assert client_for(world.dora).get(f"/audit/?{encoded}").status_code == 400


def test_each_row_links_to_its_entitys_history(world, firm_events):
    html = (
        client_for(world.dora)
        .get("/audit/?date_from=2023-03-10&date_to=2023-03-31&name=comment.")
        .content.decode()
    )

    links = set(re.findall(r'href="(/audit/history/[^"]+)"', html))
    assert links == {
        f"/audit/history/comment/{100 + i}/?task=100"
        for i in range(6)
        if any(
            e["subject"]["id"] == 100 + i
            and e["name"] == "comment.added"
            and unwalled(world)(e)
            for e in firm_events
        )
    }
    history = client_for(world.dora).get(sorted(links)[0].replace("&amp;", "&"))
    assert history.status_code == 200
    assert "commented on “Thing 0”" in history.content.decode()


def test_walled_matters_are_only_in_compliance_audits_and_every_read_is_recorded(
    world, connie, firm_events
):
    query = "date_from=2023-03-01&date_to=2023-04-30"
    admin = all_rows(client_for(world.dora), query)
    officer = all_rows(client_for(connie), query)

    walled = {e["id"] for e in firm_events if not unwalled(world)(e)}
    assert walled
    assert set(officer) == {e["id"] for e in firm_events}
    assert not walled & set(admin)
    assert len(admin) == len(firm_events) - len(walled)
    # Every page the officer read that showed the walled matter is recorded.
    reads = walled_reads(connie)
    assert reads and {r["matter"]["id"] for r in reads} == {world.walled.pk}
    assert sum(r["changes"]["events"][1] for r in reads) == len(walled)
    assert walled_reads(world.dora) == []
    assert client_for(world.oscar).get("/audit/").status_code == 403


def test_exports_stream_exactly_the_selection_as_csv_and_json_lines(
    world, connie, firm_events, monkeypatch
):
    # Small pages, so the export crosses many store pages.
    from events_app.history import selectors

    monkeypatch.setattr(selectors, "EXPORT_PAGE", 7)
    query = "date_from=2023-03-12&date_to=2023-03-25&name=task."
    everything = selection(
        firm_events, "2023-03-12", "2023-03-25", lambda e: e["name"].startswith("task.")
    )
    expected = [e for e in everything if unwalled(world)(e)]
    client = client_for(world.dora)

    as_csv = client.get(f"/audit/export.csv?{query}")
    as_jsonl = client.get(f"/audit/export.jsonl?{query}")

    assert isinstance(as_csv, StreamingHttpResponse)
    assert isinstance(as_jsonl, StreamingHttpResponse)
    assert "attachment" in as_csv["Content-Disposition"]
    lines = b"".join(as_jsonl.streaming_content).decode().splitlines()
    assert [json.loads(line) for line in lines] == expected
    rows = list(csv.reader(io.StringIO(b"".join(as_csv.streaming_content).decode())))
    assert rows[0] == views.EXPORT_COLUMNS
    assert rows[1:] == [
        [str(v) if v is not None else "" for v in views.export_row(e)] for e in expected
    ]
    by_id = {row[1]: row for row in rows[1:]}
    # A label that a spreadsheet would run as a formula is defused.
    risky = next(e for e in expected if e["subject"]["label"].startswith("="))
    assert by_id[risky["id"]][7] == "'=HYPERLINK(1)"
    # A compliance officer's export has the walled matter too, and says so.
    officer = client_for(connie).get(f"/audit/export.jsonl?{query}")
    lines = b"".join(officer.streaming_content).decode().splitlines()
    assert [json.loads(line) for line in lines] == everything
    assert [r["changes"]["view"][1] for r in walled_reads(connie)] == [
        "an audit export"
    ]


def test_an_export_reads_page_by_page_and_never_the_whole_selection(
    world, firm_events, monkeypatch
):
    from events_app import store

    pages: list[int] = []
    real = store.query_firm_events

    def counting(**kwargs):
        page = real(**kwargs)
        pages.append(len(page.items))
        return page

    from events_app.history import selectors

    monkeypatch.setattr(store, "query_firm_events", counting)
    monkeypatch.setattr(selectors, "EXPORT_PAGE", 10)
    response = client_for(world.dora).get(
        "/audit/export.jsonl?date_from=2023-03-01&date_to=2023-04-30"
    )
    stream = iter(response.streaming_content)

    next(stream)
    read_before = len(pages)
    rest = list(stream)

    assert read_before == 1  # the first page only, before anything is sent
    assert len(rest) == len([e for e in firm_events if unwalled(world)(e)]) - 1
    assert max(pages) <= 10


def test_bad_search_input_is_a_400(world, event_store):
    client = client_for(world.dora)

    assert (
        client.get("/audit/?date_from=2023-03-02&date_to=2023-03-01").status_code == 400
    )
    assert client.get("/audit/?date_from=someday").status_code == 400
    assert client.get("/audit/?name=not%20a%20name").status_code == 400
    assert client.get(f"/audit/?user={world.oscar.pk}").status_code == 400
    assert client.get("/audit/export.csv?date_from=nope").status_code == 400
    assert client.get("/audit/?cursor=forged").status_code == 400
    assert client.get("/audit/export.xlsx").status_code == 404
    for far in (
        "date_from=0001-01-01&date_to=0001-01-02",
        "date_from=2023-01-01&date_to=9999-12-31",
    ):
        assert client.get(f"/audit/?{far}").status_code == 400
        assert client.get(f"/audit/export.csv?{far}").status_code == 400


def test_the_audit_view_says_so_when_the_store_is_down(world):
    response = client_for(world.dora).get("/audit/")
    export = client_for(world.dora).get("/audit/export.csv")

    assert response.status_code == 503
    assert export.status_code == 503
