"""Histories and feeds: readable sentences from the store, seen by whoever may."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client

from events_app.context import acting_as
from events_app.history import sentences
from tasks_app import services
from tasks_app.models import Milestone
from tests.events_app import event_helpers
from tests.events_app.event_helpers import at, envelope_event
from tests.fixtures.factories import make_task

pipeline = event_helpers.pipeline

HTMX = {"HTTP_HX_REQUEST": "true"}


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def texts(html: str) -> list[str]:
    """The history rows' sentences with their times, as a reader sees them."""
    rows = re.findall(r'<p class="history-text">(.*?)</p>', html, flags=re.S)
    plain = [re.sub(r"<[^>]+>", "", row) for row in rows]
    return [" ".join(p.split()).replace(" · ", " · ") for p in plain]


def event(name: str, changes=None, **kw):
    base = envelope_event(
        at(2023, 3, 29, 16, 31), name, firm_id=1, changes=changes or {}, **kw
    )
    base["actor"] = {"id": 7, "name": "Bob"}
    return base


# --- sentences --------------------------------------------------------------------


def test_a_completion_reads_as_the_seeds_sentence_in_the_viewers_time():
    completed = event("task.completed", {"status": ["IN_PROGRESS", "DONE"]})

    sentence = sentences.describe(completed, tz="Europe/London")

    assert (
        sentence.full
        == "Bob moved “My task” from In progress to Done · 29 Mar 2023, 17:31"
    )
    assert sentences.describe(completed, tz="Asia/Tokyo").when_text == (
        "30 Mar 2023, 01:31"
    )
    assert sentence.changes == []


@pytest.mark.parametrize(
    ("name", "changes", "extra", "text"),
    [
        ("task.created", {"title": [None, "My task"]}, {}, "Bob created “My task”"),
        (
            "task.updated",
            {"title": ["Old", "New"], "rank": ["a", "b"]},
            {},
            "Bob renamed “Old” to “New”",
        ),
        (
            "task.updated",
            {"description": ["a", "b"], "due_date": [None, "2023-04-01"]},
            {},
            "Bob changed the description and due date of “My task”",
        ),
        (
            "task.assigned",
            {"assignee": [None, {"id": 3, "name": "Carol King"}]},
            {},
            "Bob assigned “My task” to Carol King",
        ),
        (
            "task.assigned",
            {
                "assignee": [
                    {"id": 3, "name": "Carol King"},
                    {"id": 4, "name": "Dan Wu"},
                ]
            },
            {},
            "Bob reassigned “My task” from Carol King to Dan Wu",
        ),
        (
            "task.unassigned",
            {"assignee": [{"id": 3, "name": "Carol King"}, None]},
            {},
            "Bob unassigned Carol King from “My task”",
        ),
        (
            "task.milestone_changed",
            {"milestone": [None, {"id": 1, "label": "Disclosure"}]},
            {},
            "Bob put “My task” under milestone “Disclosure”",
        ),
        ("task.deleted", {}, {}, "Bob deleted “My task”"),
        ("task.reopened", {}, {}, "Bob reopened “My task”"),
        (
            "comment.added",
            {"body": [None, "Looks good"]},
            {
                "subject_type": "comment",
                "parent": {"type": "task", "id": 1, "label": "My task"},
            },
            "Bob commented on “My task”",
        ),
        (
            "comment.edited",
            {"body": ["a", "b"]},
            {
                "subject_type": "comment",
                "parent": {"type": "task", "id": 1, "label": "My task"},
            },
            "Bob edited a comment on “My task”",
        ),
        (
            "milestone.progress_changed",
            {"progress": [25, 50]},
            {"subject_type": "milestone", "label": "Disclosure"},
            "Milestone “Disclosure” went from 25% to 50% done",
        ),
        ("user.logged_in", {}, {"subject_type": "user"}, "Bob logged in"),
        (
            "user.login_failed",
            {},
            {"subject_type": "user", "label": "bobby"},
            "A login as “bobby” failed",
        ),
        ("task.archived", {}, {}, "Bob: task.archived on “My task”"),
    ],
)
def test_each_event_name_reads_as_a_sentence(name, changes, extra, text):
    assert sentences.sentence_text(event(name, changes, **extra)) == text


def test_a_system_event_is_told_as_hivelights():
    system = event("task.updated", {"priority": ["LOW", "HIGH"]})
    system["actor"] = {"id": None, "name": "system"}

    assert sentences.sentence_text(system) == (
        "Hivelight changed the priority of “My task”"
    )
    [change] = sentences.changes_of(system)
    assert (change.label, change.before, change.after) == ("Priority", "Low", "High")


def test_changed_fields_show_old_and_new_values_readably():
    updated = event(
        "task.updated",
        {
            "due_date": ["2023-04-01", None],
            "title": ["Old", "New"],
            "assignee": [None, {"id": 2, "name": "Bob"}],  # told by task.assigned
            "rank": ["a", "b"],
        },
    )

    shown = [(c.label, c.before, c.after) for c in sentences.changes_of(updated)]

    assert shown == [("Title", "Old", "New"), ("Due date", "1 Apr 2023", "none")]


def test_long_text_changes_are_a_word_diff_with_unchanged_runs_trimmed():
    before = " ".join(f"w{i}" for i in range(60))
    after = before.replace("w30", "changed").replace("w59", "w59 end")

    [change] = sentences.changes_of(
        event("task.updated", {"description": [before, after]})
    )

    kinds = [(p.kind, p.text) for p in change.diff]
    assert ("removed", "w30") in kinds and ("added", "changed") in kinds
    assert ("added", " end") in kinds
    same = [text for kind, text in kinds if kind == "same"]
    assert same[0].startswith("… ") and "w18" not in same[0]
    assert "…" in same[1] and len(same[1].split()) < 30


def test_a_short_word_diff_gives_the_new_text_back():
    before, after = "The quick brown fox", "The quick red fox jumps"

    parts = sentences.word_diff(before, after)

    assert "".join(p.text for p in parts if p.kind != "removed") == after
    assert "".join(p.text for p in parts if p.kind != "added") == before


# --- a task's history through the pipeline ------------------------------------------


def test_a_tasks_history_is_newest_first_with_its_comments_interleaved(
    world, pipeline, settings
):
    long_text = "Serve the claim form on the defendant's solicitors " * 3
    with pipeline(), acting_as(world.alice, source="web"):
        task = make_task(world.matter, "My task", actor=world.alice)
        services.comment_create(
            actor=world.alice, task_id=task.pk, body="Started drafting"
        )
        services.task_update(actor=world.alice, task_id=task.pk, status="IN_PROGRESS")
        services.task_update(actor=world.alice, task_id=task.pk, description=long_text)
    with pipeline(), acting_as(world.bob, source="web"):
        services.comment_create(actor=world.bob, task_id=task.pk, body="Looks good")
        services.task_move(actor=world.bob, task_id=task.pk, status="IN_PROGRESS")
        services.task_update(actor=world.bob, task_id=task.pk, status="DONE")

    response = client_for(world.carol).get(f"/tasks/{task.pk}/history/", **HTMX)

    assert response.status_code == 200
    rows = texts(response.content.decode())
    assert [r.rsplit(" · ", 1)[0] for r in rows] == [
        "Bob Stone moved “My task” from In progress to Done",
        "Bob Stone commented on “My task”",
        "Alice Hartley changed the description of “My task”",
        "Alice Hartley moved “My task” from To do to In progress",
        "Alice Hartley commented on “My task”",
        "Alice Hartley created “My task”",
    ]
    html = response.content.decode()
    assert "<ins>" in html and "Serve the claim form" in html
    assert "reordered" not in html  # task.moved is not history
    assert "viewed" not in html


def test_the_task_page_loads_its_history_tab_from_the_history_view(world, pipeline):
    with pipeline():
        task = make_task(world.matter, "My task", actor=world.alice)

    page = client_for(world.alice).get(f"/tasks/{task.pk}/").content.decode()

    assert f'hx-get="/tasks/{task.pk}/history/"' in page
    assert 'id="history-heading"' in page


def test_history_pages_are_cursor_paginated_without_gaps_or_repeats(world, event_store):
    task = make_task(world.matter, "Busy task", actor=world.alice)
    events = [
        envelope_event(
            at(2023, 5, 1) + dt.timedelta(minutes=i),
            "task.updated",
            firm_id=world.firm.pk,
            actor=world.alice,
            subject_id=task.pk,
            matter=world.matter,
            changes={"priority": ["LOW", "HIGH"]},
        )
        for i in range(65)
    ]
    event_store.put_events(events)
    client = client_for(world.alice)

    first = client.get(f"/tasks/{task.pk}/history/", **HTMX).content.decode()
    seen = re.findall(r'id="event-([0-9a-f-]+)"', first)
    url = re.search(r'hx-get="([^"]+cursor=[^"]+)"', first).group(1)
    while url:
        more = client.get(url.replace("&amp;", "&"), **HTMX).content.decode()
        seen += re.findall(r'id="event-([0-9a-f-]+)"', more)
        found = re.search(r'hx-get="([^"]+cursor=[^"]+)"', more)
        url = found.group(1) if found else None

    assert seen == [e["id"] for e in reversed(events)]


def test_a_comment_and_a_milestone_have_their_own_history(world, pipeline):
    with pipeline(), acting_as(world.alice, source="web"):
        task = make_task(world.matter, "My task", actor=world.alice)
        first = services.comment_create(actor=world.alice, task_id=task.pk, body="One")
        services.comment_create(actor=world.alice, task_id=task.pk, body="Two")
        services.comment_edit(actor=world.alice, comment_id=first.pk, body="One!")
        milestone = services.milestone_create(
            actor=world.alice, matter_id=world.matter.pk, name="Trial"
        )
    client = client_for(world.bob)

    comment_rows = texts(client.get(f"/comments/{first.pk}/history/").content.decode())
    milestone_rows = texts(
        client.get(f"/milestones/{milestone.pk}/history/").content.decode()
    )

    assert [r.rsplit(" · ", 1)[0] for r in comment_rows] == [
        "Alice Hartley edited a comment on “My task”",
        "Alice Hartley commented on “My task”",
    ]
    assert [r.rsplit(" · ", 1)[0] for r in milestone_rows] == [
        "Alice Hartley created milestone “Trial”"
    ]


def test_histories_behind_a_wall_or_in_another_firm_are_not_found(world, pipeline):
    with pipeline():
        walled = make_task(world.walled, "Secret", actor=world.alice)
        comment = services.comment_create(
            actor=world.alice, task_id=walled.pk, body="hush"
        )
        theirs = make_task(world.other_matter, "Theirs", actor=world.oscar)
    milestone = Milestone.objects.create(matter=world.walled, name="Hidden")

    for user, url in [
        (world.walt, f"/tasks/{walled.pk}/history/"),
        (world.walt, f"/comments/{comment.pk}/history/"),
        (world.walt, f"/milestones/{milestone.pk}/history/"),
        (world.walt, f"/matters/{world.walled.pk}/activity/"),
        (world.dora, f"/tasks/{walled.pk}/history/"),  # admins too: the page rule
        (world.alice, f"/tasks/{theirs.pk}/history/"),
        (world.alice, f"/matters/{world.other_matter.pk}/activity/"),
    ]:
        assert client_for(user).get(url).status_code == 404, (user, url)
    assert client_for(world.bob).get(f"/tasks/{walled.pk}/history/").status_code == 200


def test_a_deleted_tasks_history_stays_readable_in_the_audit_view_only(world, pipeline):
    with pipeline(), acting_as(world.alice, source="web"):
        task = make_task(world.matter, "Short-lived", actor=world.alice)
        services.comment_create(actor=world.alice, task_id=task.pk, body="Hm")
        services.task_delete(actor=world.alice, task_id=task.pk)

    audit = client_for(world.dora).get(f"/audit/history/task/{task.pk}/")
    as_partner = client_for(world.alice).get(f"/audit/history/task/{task.pk}/")
    page = client_for(world.alice).get(f"/tasks/{task.pk}/history/")

    assert audit.status_code == 200
    told = [r.rsplit(" · ", 1)[0] for r in texts(audit.content.decode())]
    # Deleting the task deletes its comment too, in the same moment.
    assert set(told[:2]) == {
        "Alice Hartley deleted “Short-lived”",
        "Alice Hartley deleted a comment on “Short-lived”",
    }
    assert told[2:] == [
        "Alice Hartley commented on “Short-lived”",
        "Alice Hartley created “Short-lived”",
    ]
    assert "only its record remains" in audit.content.decode()
    assert as_partner.status_code == 403
    assert page.status_code == 404


def test_a_matter_feed_lists_its_events_newest_first_and_pages(world, event_store):
    events = [
        envelope_event(
            at(2023, 6, 1) + dt.timedelta(hours=i),
            ["task.created", "task.moved", "comment.added", "task.viewed"][i % 4],
            firm_id=world.firm.pk,
            actor=world.bob,
            matter=world.matter,
            label=f"Task {i}",
        )
        for i in range(100)
    ]
    event_store.put_events(events)
    client = client_for(world.carol)

    first = client.get(f"/matters/{world.matter.pk}/activity/").content.decode()
    older = re.search(r'href="([^"]+cursor=[^"]+)"', first).group(1)
    second = client.get(older.replace("&amp;", "&")).content.decode()

    shown = [
        e for e in reversed(events) if e["name"] in ("task.created", "comment.added")
    ]
    assert re.findall(r'id="event-([0-9a-f-]+)"', first) == [
        e["id"] for e in shown[:40]
    ]
    assert re.findall(r'id="event-([0-9a-f-]+)"', second) == [
        e["id"] for e in shown[40:50]
    ]
    assert "Back to the newest" in second


def test_the_board_links_to_its_matter_feed(world):
    page = client_for(world.alice).get(f"/matters/{world.matter.pk}/").content.decode()

    assert f'href="/matters/{world.matter.pk}/activity/"' in page


def test_a_store_that_cannot_be_reached_is_a_503_with_a_message(world):
    # No event_store: the session's store is pointed at a closed port.
    task = make_task(world.matter, "My task", actor=world.alice)

    response = client_for(world.alice).get(f"/tasks/{task.pk}/history/", **HTMX)

    assert response.status_code == 503
    assert "unavailable" in response.content.decode()


def test_a_deleted_comment_reads_as_deleted_except_to_compliance_officers(
    world, connie, pipeline
):
    with pipeline():
        task = make_task(world.matter, "Settlement", actor=world.alice)
        with acting_as(world.bob, source="web"):
            comment = services.comment_create(
                actor=world.bob, task_id=task.pk, body="Client will accept 70k"
            )
            services.comment_delete(actor=world.bob, comment_id=comment.pk)

    page = client_for(world.alice).get(f"/tasks/{task.pk}/history/").content.decode()
    api = client_for(world.alice).get(f"/api/tasks/{task.pk}/history/").content.decode()
    audit = (
        client_for(world.dora).get(f"/audit/history/task/{task.pk}/").content.decode()
    )
    officer = client_for(connie).get(f"/audit/history/task/{task.pk}/").content.decode()

    for reader in (page, api, audit):
        assert "70k" not in reader
    assert "comment deleted" in page
    assert "70k" in officer  # the record keeps it, for compliance
