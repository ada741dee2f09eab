"""The seed's scenario end to end: Alice works on "My task", Bob marks it done.

Every change goes through the services, the outbox and the relay into
DynamoDB Local; then each view answers from the store: Bob's calendar and
the daily API show 2023-03-29: 1 for the completed filter, the task's
history tells it as a sentence, and the audit view finds it.
"""

from __future__ import annotations

import json
import re

from django.test import Client

from events_app.context import acting_as
from tasks_app import services
from tests.events_app import event_helpers
from tests.events_app.event_helpers import at, frozen
from tests.fixtures.factories import make_task

pipeline = event_helpers.pipeline

SENTENCE = "Bob Stone moved “My task” from In progress to Done · 29 Mar 2023, 17:31"


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def api(client: Client, url: str, **params) -> dict:
    response = client.get(url, params, HTTP_ACCEPT="application/json")
    assert response.status_code == 200, response.content
    return json.loads(response.content)


def test_alice_works_on_my_task_and_bob_marks_it_done_on_29_march(world, pipeline):
    # London is on BST from 26 March: 17:31 local is 16:31 UTC.
    with pipeline(), acting_as(world.alice, source="web"):
        with frozen(at(2023, 3, 27, 9, 5)):
            task = make_task(world.matter, "My task", actor=world.alice)
        with frozen(at(2023, 3, 28, 14, 0)):
            services.task_update(
                actor=world.alice, task_id=task.pk, status="IN_PROGRESS"
            )
        with frozen(at(2023, 3, 28, 14, 20)):
            services.comment_create(
                actor=world.alice, task_id=task.pk, body="Draft is with @bob"
            )
    with (
        pipeline(),
        acting_as(world.bob, source="web"),
        frozen(at(2023, 3, 29, 16, 31, 9)),
    ):
        services.task_update(actor=world.bob, task_id=task.pk, status="DONE")
    bob, alice, dora = (client_for(u) for u in (world.bob, world.alice, world.dora))

    # Bob's calendar, "completed and started": one event on the 29th.
    calendar = bob.get("/activity/?year=2023&filter=progress").content.decode()
    cell = re.search(r'<rect class="day" [^>]*data-date="2023-03-29"[^>]*>', calendar)
    assert 'data-count="1"' in cell.group(0)
    assert 'aria-label="1 event on Wednesday 29 March 2023"' in cell.group(0)
    assert re.search(r'data-date="2023-03-28" data-count="0"', calendar)

    # The seed's third query, in its exact shape.
    march = {"from": "2023-03-01", "to": "2023-03-31"}
    completed = api(
        bob,
        "/api/activity/daily/",
        names="task.completed,task.started",
        **march,
    )
    assert completed == {"2023-03-29": 1}
    assert api(alice, "/api/activity/daily/", name_prefix="task.", **march) == {
        "2023-03-27": 1,
        "2023-03-28": 1,
    }
    assert api(alice, "/api/activity/daily/", **march) == {
        "2023-03-27": 1,
        "2023-03-28": 2,
    }

    # The seed's first two queries: a user's events between two times.
    window = {"from": "2023-03-29T00:00:00", "to": "2023-03-30T00:00:00"}
    bobs = api(bob, "/api/events/", **window)["events"]
    assert [(e["name"], e["subject"]["label"]) for e in bobs] == [
        ("task.completed", "My task")
    ]
    assert bobs[0]["changes"]["status"] == ["IN_PROGRESS", "DONE"]
    alices = api(alice, "/api/events/", name_prefix="task.", **march)["events"]
    assert [e["name"] for e in alices] == ["task.started", "task.created"]

    # The task's history tells it, comments interleaved.
    history = alice.get(
        f"/tasks/{task.pk}/history/", HTTP_HX_REQUEST="true"
    ).content.decode()
    rows = [
        " ".join(re.sub(r"<[^>]+>", "", row).split())
        for row in re.findall(r'<p class="history-text">(.*?)</p>', history, re.S)
    ]
    assert rows == [
        SENTENCE,
        "Alice Hartley commented on “My task” · 28 Mar 2023, 15:20",
        "Alice Hartley moved “My task” from To do to In progress · 28 Mar 2023, 15:00",
        "Alice Hartley created “My task” · 27 Mar 2023, 10:05",
    ]

    # The audit view finds it and links to the task's history.
    audit = dora.get(
        "/audit/?date_from=2023-03-29&date_to=2023-03-29&name=task.completed"
    ).content.decode()
    assert len(re.findall(r'<tr id="event-', audit)) == 1
    assert "Bob Stone moved “My task” from In progress to Done" in audit
    assert f'href="/audit/history/task/{task.pk}/"' in audit
    record = dora.get(f"/audit/history/task/{task.pk}/").content.decode()
    assert "Bob Stone moved “My task” from In progress to Done" in record
