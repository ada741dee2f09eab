"""Walls and firms hold for every page, API, export and websocket group.

Walks every URL pattern of the project (the admin aside: it is for the
site's own staff) with each kind of person who must not see a walled
matter or another firm: anonymous, someone of another firm, and everyone of
the firm outside the wall (associate, paralegal, firm admin, compliance
officer). Each URL is asked for the hidden objects (the walled matter's
task, comment, milestone, team, notifications; the other firm's), by GET
and, where the view takes it, by POST (rolled back). Every answer must be
a refusal (login, 400, 401, 403, 404, 405) or a page that names none of
the hidden objects. The one exception is the rule itself: a compliance
officer may read a walled matter in audit, and each read is recorded.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from asgiref.sync import sync_to_async
from django.db import transaction
from django.test import Client
from django.urls import get_resolver
from django.urls.resolvers import URLPattern, URLResolver
from django.utils import timezone

from events_app.context import acting_as
from events_app.models import Notification, OutboxEvent, WebhookDelivery
from events_app.webhooks import services as webhook_services
from tasks_app import services
from tasks_app.models import Comment, MatterMember, Membership, Milestone, Task, User
from tests.events_app.live_helpers import open_hello, request, run_async, session_key
from tests.fixtures.factories import make_task, make_user
from tests.fixtures.worker import celery_eager

pytestmark = pytest.mark.services

REFUSED = {302, 400, 401, 403, 404, 405}
# Audit pages: the compliance officer's exception (reads are recorded).
AUDIT_ROUTES = {"audit", "audit_export", "audit_history", "api_task_history"}


@dataclass
class Hidden:
    """One set of objects someone must not see, and the words that name them."""

    matter_id: int
    task_id: int
    comment_id: int
    milestone_id: int
    member_id: int
    notification_id: int
    person_id: int
    labels: tuple[str, ...]
    roadmap_id: int = 0
    roadmap_task_id: int = 0
    endpoint_id: int = 0
    delivery_id: int = 0


def routes() -> Iterator[tuple[str, str]]:
    def walk(patterns, prefix=""):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                if str(pattern.pattern).startswith("admin"):
                    continue
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                yield prefix + str(pattern.pattern), pattern.name

    yield from walk(get_resolver().url_patterns)


def queue_delivery(endpoint, task: Task) -> WebhookDelivery:
    """A delivery of the task's creation, as the relay would have made it."""
    event = (
        OutboxEvent.objects.filter(name="task.created", payload__subject__id=task.pk)
        .get()
        .payload
    )
    return WebhookDelivery.objects.create(
        endpoint=endpoint,
        event_id=event["id"],
        event_name=event["name"],
        payload=event,
    )


def url_for(route: str, hidden: Hidden) -> str | None:
    values = {
        "matter_id": hidden.matter_id,
        "task_id": hidden.task_id,
        "comment_id": hidden.comment_id,
        "milestone_id": hidden.milestone_id,
        "member_id": hidden.member_id,
        "notification_id": hidden.notification_id,
        "user_id": hidden.person_id,
        "subject_type": "task",
        "subject_id": hidden.task_id,
        "fmt": "jsonl",
        "roadmap_id": hidden.roadmap_id,
        "kind": "task",
        "item_id": hidden.roadmap_task_id,
        "endpoint_id": hidden.endpoint_id,
        "delivery_id": hidden.delivery_id,
    }
    if "<uidb64>" in route:
        return None  # a password link belongs to no object
    path = route
    for name in re.findall(r"<(?:\w+:)?(\w+)>", route):
        path = re.sub(rf"<(?:\w+:)?{name}>", str(values[name]), path)
    return "/" + path


def query_for(name: str, hidden: Hidden) -> dict[str, str]:
    today = timezone.localdate()
    window = {
        "from": (today - dt.timedelta(days=3)).isoformat(),
        "to": (today + dt.timedelta(days=1)).isoformat(),
    }
    if name in ("api_events", "api_activity_daily"):
        return {**window, "user": str(hidden.person_id)}
    if name in ("audit", "audit_export"):
        return {"date_from": window["from"], "date_to": window["to"]}
    if name == "search":
        return {"q": hidden.labels[1].split()[0]}
    if name in ("matter_calendar_day", "activity_day"):
        # A day the hidden work happened on: a refusal is the only safe answer.
        return {"date": today.isoformat()}
    return {}


def body_of(response) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode(errors="replace")
    return response.content.decode(errors="replace")


@pytest.fixture
def scene(transactional_db, event_store, world, connie):
    """The world's walled matter and the other firm, each full of work."""
    with celery_eager(True):
        secret = make_task(
            world.walled, "Brightwater valuation memo", actor=world.alice
        )
        services.task_assign(actor=world.alice, task_id=secret.pk, assignee=world.bob)
        with acting_as(world.alice, source="web"):
            comment = services.comment_create(
                actor=world.alice, task_id=secret.pk, body="Orchard offers 42m @bob"
            )
        milestone = services.milestone_create(
            actor=world.alice, matter_id=world.walled.pk, name="Brightwater completion"
        )
        theirs = make_task(
            world.other_matter, "Quayside rent review", actor=world.oscar
        )
        their_comment = services.comment_create(
            actor=world.oscar, task_id=theirs.pk, body="Landlord wants upward-only"
        )
        their_milestone = services.milestone_create(
            actor=world.oscar, matter_id=world.other_matter.pk, name="Quayside heads"
        )
        their_person = User.objects.get(pk=world.oscar.pk)
        their_plan = services.roadmap_create(actor=world.oscar, name="Quayside plan")
        their_step = services.roadmap_task_add(
            actor=world.oscar, roadmap_id=their_plan.pk, title="Quayside break notice"
        )
        olga = make_user(world.other_firm, "olga", Membership.Role.FIRM_ADMIN)
        their_hook, _ = webhook_services.endpoint_create(
            actor=olga,
            url="http://127.0.0.1:9/quayside-billing-hook",
            description="Quayside billing",
            event_patterns=["*"],
        )
        their_delivery = queue_delivery(their_hook, theirs)
        # Ours, made before the wall went up around the walled matter's work:
        # a delivery of its task stays in the firm's webhook log.
        our_hook, _ = webhook_services.endpoint_create(
            actor=world.dora,
            url="http://127.0.0.1:9/our-billing-hook",
            event_patterns=["*"],
        )
        our_delivery = queue_delivery(our_hook, secret)
    walled = Hidden(
        matter_id=world.walled.pk,
        task_id=secret.pk,
        comment_id=comment.pk,
        milestone_id=milestone.pk,
        member_id=MatterMember.objects.get(matter=world.walled, user=world.bob).pk,
        notification_id=Notification.objects.filter(recipient=world.bob).first().pk,
        person_id=world.alice.pk,
        labels=(
            world.walled.name,
            secret.title,
            comment.body,
            milestone.name,
        ),
        endpoint_id=our_hook.pk,
        delivery_id=our_delivery.pk,
    )
    other = Hidden(
        matter_id=world.other_matter.pk,
        task_id=theirs.pk,
        comment_id=their_comment.pk,
        milestone_id=their_milestone.pk,
        member_id=0,
        notification_id=0,
        person_id=their_person.pk,
        labels=(
            world.other_matter.name,
            theirs.title,
            their_comment.body,
            their_milestone.name,
            world.other_matter.client_name,
            world.other_matter.number,
            their_plan.name,
            their_step.title,
            their_hook.url,
            their_hook.description,
        ),
        roadmap_id=their_plan.pk,
        roadmap_task_id=their_step.pk,
        endpoint_id=their_hook.pk,
        delivery_id=their_delivery.pk,
    )
    return {"walled": walled, "other": other}


def check(
    client: Client, who: str, hidden: Hidden, found: list[str], skip: set[str]
) -> None:
    for route, name in routes():
        if name in skip:
            continue
        url = url_for(route, hidden)
        if url is None:
            continue
        params = query_for(name, hidden)
        for method in ("get", "post"):
            with transaction.atomic():
                response = getattr(client, method)(url, params)
                body = body_of(response)
                transaction.set_rollback(True)
            if response.status_code in REFUSED:
                continue
            leaked = [label for label in hidden.labels if label and label in body]
            if leaked:
                found.append(f"{who} {method.upper()} {url} -> {leaked}")


@pytest.mark.parametrize("who", ["walt", "carol", "dora", "connie", "oscar", None])
def test_nothing_of_a_hidden_matter_or_another_firm_reaches_anyone_outside(
    scene, world, connie, who
):
    user = connie if who == "connie" else getattr(world, who) if who else None
    client = Client()
    if user is not None:
        client.force_login(user)
    found: list[str] = []
    targets = ["walled", "other"] if who != "oscar" else ["walled"]
    for target in targets:
        # Outside audit the compliance officer is outside the wall too.
        skip = AUDIT_ROUTES if who == "connie" and target == "walled" else set()
        check(client, who or "anonymous", scene[target], found, skip)

    assert found == []


def test_a_compliance_officer_may_audit_a_walled_matter_and_each_read_is_told(
    scene, world, connie
):
    client = Client()
    client.force_login(connie)
    hidden = scene["walled"]
    before = Notification.objects.filter(recipient=world.alice).count()

    today = timezone.localdate().isoformat()
    audit = client.get("/audit/", {"date_from": today, "date_to": today})
    history = client.get(f"/audit/history/task/{hidden.task_id}/")

    assert audit.status_code == history.status_code == 200
    assert hidden.labels[1] in body_of(audit)
    assert hidden.labels[1] in body_of(history)
    told = Notification.objects.filter(recipient=world.alice).count() - before
    assert told == 2  # the responsible partner hears of each read


def test_the_inside_sees_what_the_outside_does_not(scene, world):
    """The control: the same URLs show the walled matter to its team."""
    client = Client()
    client.force_login(world.bob)
    hidden = scene["walled"]
    for name, url in (
        ("board", f"/matters/{hidden.matter_id}/"),
        ("task", f"/tasks/{hidden.task_id}/"),
        ("history", f"/tasks/{hidden.task_id}/history/"),
        ("feed", f"/matters/{hidden.matter_id}/activity/"),
        (
            "calendar day",
            f"/matters/{hidden.matter_id}/calendar/day/"
            f"?date={timezone.localdate().isoformat()}",
        ),
    ):
        response = client.get(url)
        assert response.status_code == 200, name
        assert hidden.labels[1] in body_of(response), name


@run_async
async def test_no_websocket_group_of_a_hidden_matter_or_person_can_be_joined(
    scene, world, connie
):
    walled = scene["walled"]
    people = [world.walt, world.carol, world.dora, connie, world.oscar]
    keys = [await sync_to_async(session_key)(user) for user in people]
    for user, key in zip(people, keys, strict=True):
        socket, _ = await open_hello(key)
        answer = await request(socket, {"subscribe": "matter", "id": walled.matter_id})
        assert answer == {
            "kind": "error",
            "message": "No such matter.",
            "subscribe": "matter",
            "id": walled.matter_id,
        }, user.username
        answer = await request(
            socket, {"subscribe": "matter_activity", "matter_id": walled.matter_id}
        )
        assert answer == {
            "kind": "error",
            "message": "No such matter.",
            "subscribe": "matter_activity",
            "matter_id": walled.matter_id,
        }, user.username
        answer = await request(
            socket, {"subscribe": "activity", "user_id": world.bob.pk}
        )
        expected = "subscribed" if user == world.dora else "error"
        assert answer["kind"] == expected, user.username
        await socket.disconnect()


def unmasked(html: str) -> str:
    """A page without its CSRF token (masked afresh on every response)."""
    html = re.sub(r'"X-CSRFToken": "[^"]+"', "", html)
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)


def test_hidden_and_missing_read_the_same(scene, world):
    """A hidden object and one that never existed get the same answer."""
    client = Client()
    client.force_login(world.walt)
    hidden = scene["walled"]
    missing = 10**9
    for route in (
        "/tasks/{}/",
        "/tasks/{}/history/",
        "/comments/{}/history/",
        "/milestones/{}/history/",
        "/matters/{}/",
        "/matters/{}/calendar/",
        "/matters/{}/calendar/grid/",
    ):
        ids = {
            "/comments/{}/history/": hidden.comment_id,
            "/milestones/{}/history/": hidden.milestone_id,
            "/matters/{}/": hidden.matter_id,
            "/matters/{}/calendar/": hidden.matter_id,
            "/matters/{}/calendar/grid/": hidden.matter_id,
        }
        one = client.get(route.format(ids.get(route, hidden.task_id)))
        other = client.get(route.format(missing))
        assert one.status_code == other.status_code == 404
        assert unmasked(body_of(one)) == unmasked(body_of(other))
        as_json = client.get(
            route.format(ids.get(route, hidden.task_id)),
            headers={"accept": "application/json"},
        )
        missing_json = client.get(
            route.format(missing), headers={"accept": "application/json"}
        )
        assert as_json.json() == missing_json.json()
    assert Comment.objects.filter(pk=hidden.comment_id).exists()
    assert Milestone.objects.filter(pk=hidden.milestone_id).exists()
    assert Task.objects.filter(pk=hidden.task_id).exists()
