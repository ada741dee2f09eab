"""Notifications in the app: bell, list, reading, settings, watching; their scoping."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import pytest
from django.test import Client

from events_app.models import Notification, NotificationPreference
from events_app.notifications.selectors import notification_unread_count
from tasks_app.models import Matter, TaskWatch
from tests.fixtures.factories import World, make_task

pytestmark = pytest.mark.django_db

_n = itertools.count(1)
JSON = {"HTTP_ACCEPT": "application/json"}
HTMX = {"HTTP_HX_REQUEST": "true"}


def make_notification(
    recipient: Any, matter: Matter | None, summary: str = "", **fields: Any
) -> Notification:
    n = next(_n)
    event = {
        "id": str(uuid.uuid4()),
        "name": "task.assigned",
        "matter": {"id": matter.pk, "label": str(matter)} if matter else None,
    }
    return Notification.objects.create(
        recipient=recipient,
        event_id=event["id"],
        event_name=event["name"],
        event=event,
        verb=fields.pop("verb", Notification.Verb.ASSIGNED),
        summary=summary or f"Notification {n}",
        url=fields.pop("url", "/tasks/1/"),
        matter_id=matter.pk if matter else None,
        **fields,
    )


@pytest.fixture
def as_bob(client: Client, world: World) -> Client:
    client.force_login(world.bob)
    return client


# --- login and scoping ------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/notifications/"),
        ("get", "/notifications/bell/"),
        ("get", "/notifications/settings/"),
        ("get", "/notifications/1/open/"),
        ("post", "/notifications/1/read/"),
        ("post", "/notifications/read-all/"),
        ("post", "/tasks/1/watch/"),
        ("post", "/tasks/1/unwatch/"),
    ],
)
def test_every_notification_view_needs_a_login(
    client: Client, method: str, path: str
) -> None:
    page = getattr(client, method)(path)
    assert page.status_code == 302
    assert page["Location"].startswith("/login/")
    assert getattr(client, method)(path, **JSON).status_code == 401


def test_the_list_shows_only_ones_own_notifications_newest_first(
    as_bob: Client, world: World
) -> None:
    make_notification(world.bob, world.matter, "Older one")
    make_notification(world.bob, world.matter, "Newer one")
    make_notification(world.carol, world.matter, "Carol's business")

    page = as_bob.get("/notifications/")

    assert page.status_code == 200
    assert [n.summary for n in page.context["items"]] == ["Newer one", "Older one"]
    assert "Carol&#x27;s business" not in page.content.decode()
    assert page.context["unread"] == 2


def test_notifications_about_a_matter_walled_off_since_are_hidden(
    as_bob: Client, world: World
) -> None:
    make_notification(world.bob, world.walled, "Privileged strategy")
    make_notification(world.bob, world.matter, "Open matter")
    world.walled.members.remove(world.bob)

    page = as_bob.get("/notifications/")

    assert [n.summary for n in page.context["items"]] == ["Open matter"]
    assert as_bob.get("/notifications/bell/", **JSON).json() == {"unread": 1}


def test_another_users_notification_is_not_found(as_bob: Client, world: World) -> None:
    theirs = make_notification(world.carol, world.matter)

    assert as_bob.get(f"/notifications/{theirs.pk}/open/").status_code == 404
    assert as_bob.post(f"/notifications/{theirs.pk}/read/").status_code == 404
    assert as_bob.post(f"/notifications/{theirs.pk}/read/", **JSON).json() == {
        "error": "No such notification."
    }
    theirs.refresh_from_db()
    assert theirs.read_at is None


# --- the bell ---------------------------------------------------------------------


def test_every_page_shows_the_bell_with_the_unread_count(
    as_bob: Client, world: World
) -> None:
    make_notification(world.bob, world.matter)
    make_notification(world.bob, world.matter)
    make_notification(world.bob, world.matter, read_at="2024-01-01T00:00:00Z")

    for path in ("/", f"/matters/{world.matter.pk}/", "/notifications/"):
        html = as_bob.get(path).content.decode()
        assert 'aria-label="Notifications: 2 unread"' in html, path
        assert 'id="toasts"' in html
        assert "js/live.js" in html


def test_the_bell_fragment_and_json_give_the_count(
    as_bob: Client, world: World
) -> None:
    make_notification(world.bob, world.matter)

    assert as_bob.get("/notifications/bell/", **JSON).json() == {"unread": 1}
    fragment = as_bob.get("/notifications/bell/", **HTMX).content.decode()
    assert "data-notif-count>1</span>" in fragment


def test_the_login_page_has_no_bell_and_no_socket(client: Client) -> None:
    html = client.get("/login/").content.decode()
    assert "notif-bell-link" not in html
    assert "js/live.js" not in html


# --- reading ----------------------------------------------------------------------


def test_opening_a_notification_marks_it_read_and_goes_to_its_task(
    as_bob: Client, world: World
) -> None:
    task = make_task(world.matter, actor=world.alice)
    notification = make_notification(world.bob, world.matter, url=f"/tasks/{task.pk}/")

    response = as_bob.get(f"/notifications/{notification.pk}/open/")

    assert response.status_code == 302
    assert response["Location"] == f"/tasks/{task.pk}/"
    notification.refresh_from_db()
    assert notification.read_at is not None


def test_a_notification_never_redirects_off_site(as_bob: Client, world: World) -> None:
    notification = make_notification(world.bob, world.matter, url="https://evil.test/")

    response = as_bob.get(f"/notifications/{notification.pk}/open/")

    assert response["Location"] == "/notifications/"


def test_marking_one_read_answers_each_caller(as_bob: Client, world: World) -> None:
    first, second, third = (make_notification(world.bob, world.matter) for _ in "abc")

    json_answer = as_bob.post(f"/notifications/{first.pk}/read/", **JSON)
    htmx_answer = as_bob.post(f"/notifications/{second.pk}/read/", **HTMX)
    page_answer = as_bob.post(
        f"/notifications/{third.pk}/read/", {"next": "/notifications/?unread=1"}
    )

    assert json_answer.json() == {"id": first.pk, "unread": 2}
    html = htmx_answer.content.decode()
    assert f'id="notification-{second.pk}"' in html and "Mark read" not in html
    assert 'hx-swap-oob="true"' in html  # the bell is updated in the same answer
    assert page_answer["Location"] == "/notifications/?unread=1"
    assert notification_unread_count(user=world.bob) == 0


def test_mark_all_read_stops_at_the_newest_notification_shown(
    as_bob: Client, world: World
) -> None:
    shown = [make_notification(world.bob, world.matter) for _ in range(3)]
    arrived_later = make_notification(world.bob, world.matter)
    others = make_notification(world.carol, world.matter)

    response = as_bob.post(
        "/notifications/read-all/", {"up_to": str(shown[-1].pk)}, **JSON
    )

    assert response.json() == {"marked": 3, "unread": 1}
    arrived_later.refresh_from_db()
    others.refresh_from_db()
    assert arrived_later.read_at is None and others.read_at is None


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/notifications/?page=abc", None),
        ("/notifications/?page=0", None),
        ("/notifications/read-all/", {"up_to": "-3"}),
        ("/notifications/read-all/", {"up_to": "1e9"}),
    ],
)
def test_bad_input_is_a_400_with_a_message(
    as_bob: Client, path: str, data: dict | None
) -> None:
    if data is None:
        response = as_bob.get(path, **JSON)
    else:
        response = as_bob.post(path, data, **JSON)
    assert response.status_code == 400
    assert "is not a valid" in response.json()["error"]


def test_a_page_past_the_end_shows_the_last_page(as_bob: Client, world: World) -> None:
    make_notification(world.bob, world.matter)
    response = as_bob.get("/notifications/?page=99")
    assert response.status_code == 200
    assert len(response.context["items"]) == 1


def test_the_unread_filter(as_bob: Client, world: World) -> None:
    make_notification(world.bob, world.matter, "Unread")
    make_notification(world.bob, world.matter, "Read", read_at="2024-01-01T00:00:00Z")

    page = as_bob.get("/notifications/?unread=1")

    assert [n.summary for n in page.context["items"]] == ["Unread"]


# --- settings ---------------------------------------------------------------------


def test_email_settings_default_on_and_can_be_turned_off(
    as_bob: Client, world: World
) -> None:
    page = as_bob.get("/notifications/settings/").content.decode()
    assert page.count("checked") == 2

    response = as_bob.post("/notifications/settings/", {"email_on_mention": "on"})

    assert response.status_code == 302
    preference = NotificationPreference.objects.get(user=world.bob)
    assert (preference.email_on_assignment, preference.email_on_mention) == (
        False,
        True,
    )


# --- watching ---------------------------------------------------------------------


def test_watching_from_the_task_page(as_bob: Client, world: World) -> None:
    task = make_task(world.matter, actor=world.alice)
    assert ">Watch</button>" in as_bob.get(f"/tasks/{task.pk}/").content.decode()

    assert as_bob.post(f"/tasks/{task.pk}/watch/", **JSON).json() == {
        "task_id": task.pk,
        "watching": True,
    }
    page = as_bob.get(f"/tasks/{task.pk}/").content.decode()
    assert ">Watching</button>" in page
    fragment = as_bob.post(f"/tasks/{task.pk}/unwatch/", **HTMX).content.decode()
    assert ">Watch</button>" in fragment
    assert not TaskWatch.objects.filter(task=task).exists()
    redirect = as_bob.post(f"/tasks/{task.pk}/watch/")
    assert redirect["Location"] == f"/tasks/{task.pk}/"


def test_a_task_behind_a_wall_cannot_be_watched(client: Client, world: World) -> None:
    task = make_task(world.walled, actor=world.alice)
    client.force_login(world.walt)

    assert client.post(f"/tasks/{task.pk}/watch/", **JSON).status_code == 404
    assert client.get(f"/tasks/{task.pk}/watch/").status_code == 405
    assert not TaskWatch.objects.exists()


# --- admin ------------------------------------------------------------------------


def test_staff_see_outbox_ledger_and_notifications_read_only(
    admin_client: Client, world: World
) -> None:
    make_notification(world.bob, world.matter, "Shown in the admin")
    make_task(world.matter, actor=world.alice)
    pages = [
        "/admin/events_app/outboxevent/?delivery=failing",
        "/admin/events_app/outboxevent/?delivery=pending",
        "/admin/events_app/outboxevent/",
        "/admin/events_app/handlerrun/",
        "/admin/events_app/notification/?read=no",
        "/admin/events_app/notificationpreference/",
    ]
    for path in pages:
        assert admin_client.get(path).status_code == 200, path
    assert "Shown in the admin" in admin_client.get(pages[4]).content.decode()
    assert admin_client.get("/admin/events_app/outboxevent/add/").status_code == 403
