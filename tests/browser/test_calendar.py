"""The live activity calendar in a real browser, on daphne with a real worker.

Bob's calendar is open in one tab; he completes a task in another. The
change goes through the outbox, a real Celery worker, DynamoDB Local and
channels-redis back to the first tab, whose day cell goes up by one
without a reload.

The page server (`asgi_server`, tests/browser/conftest.py) is one per
module and reads the event store named by its environment, so this module
gives it, the worker and the test process one shared store: a table prefix
of its own, set in the environment before daphne starts and in
`settings.EVENT_STORE` for each test.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.test import override_settings

from events_app.history import calendar as activity
from tests.fixtures.factories import World, make_task

pytestmark = [
    pytest.mark.browser,
    pytest.mark.services,
    pytest.mark.django_db(transaction=True),
]

ARRIVAL_MS = 20_000


@pytest.fixture(scope="module", autouse=True)
def module_store(dynamodb_local: Any) -> Iterator[dict[str, str]]:
    """Tables for this module, named in the environment daphne starts with."""
    from django.conf import settings

    from events_app import store

    conf = {
        **settings.EVENT_STORE,
        "ENDPOINT_URL": dynamodb_local.endpoint_url,
        "TABLE_PREFIX": f"cal{uuid.uuid4().hex[:10]}_",
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
def shared_store(module_store: dict[str, str], settings: Any) -> None:
    """This test (and a worker started after it) use the module's tables."""
    from events_app import store

    settings.EVENT_STORE = module_store
    store.reset_client()


def settled(worker: Any, name: str, actor_id: int) -> None:
    """Wait until every handler of the actor's latest `name` event has run."""
    from events_app import bus
    from events_app.models import HandlerRun, OutboxEvent

    event = (
        OutboxEvent.objects.filter(name=name, payload__actor__id=actor_id)
        .order_by("-seq")
        .first()
    )
    expected = {sub.name for sub in bus.handlers_for(name)}

    def done() -> bool:
        ran = HandlerRun.objects.filter(event_id=event.event_id)
        return set(ran.values_list("handler", flat=True)) == expected

    worker.wait_for(done, timeout=20, message=f"{name} handled")


def cell(page: Any, day: str) -> Any:
    return page.locator(f'#activity-calendar rect.day[data-date="{day}"]')


# What the grid tells a person: every day's count, level and label, and the
# totals under it.
GRID_AS_SHOWN = """(root) => ({
  days: Array.from(root.querySelectorAll("rect.day[data-date]")).map((c) => [
    c.dataset.date, c.dataset.count, c.dataset.level, c.getAttribute("aria-label"),
    c.querySelector("title").textContent,
  ]),
  stats: Array.from(root.querySelectorAll("[data-stat]")).map((s) => s.textContent),
})"""


def grid_as_shown(page: Any) -> dict[str, Any]:
    return page.locator("#activity-calendar").evaluate(GRID_AS_SHOWN)


def test_a_completion_in_another_tab_lights_up_todays_cell_without_reload(
    shared_store: None, world: World, celery_worker: Any, open_as: Any
) -> None:
    task = make_task(world.matter, "My task", actor=world.alice, status="IN_PROGRESS")
    calendar = open_as("bob")
    # Opening a session records Bob's login: let it land before counting.
    settled(celery_worker, "user.logged_in", world.bob.pk)
    calendar.goto("/activity/")
    calendar.wait_for_function(
        "window.__live.some((m) => m.kind === 'subscribed' && m.user_id > 0)"
    )
    calendar.evaluate("window.__notReloaded = true")
    today = calendar.locator("#activity-calendar rect.day[data-date]").last
    today = today.get_attribute("data-date")
    assert cell(calendar, today).get_attribute("data-count") == "1"  # the login
    assert calendar.locator('[data-stat="total"]').inner_text() == "1"
    # The keyboard is on today when the event arrives.
    cell(calendar, today).focus()

    # The same person, another tab: the echo rule spares only that tab.
    other_tab = calendar.context.new_page()
    other_tab.goto(f"/tasks/{task.pk}/")
    other_tab.get_by_label("Status").select_option(label="Done")
    other_tab.get_by_role("button", name="Save changes").click()
    other_tab.wait_for_url(f"**/tasks/{task.pk}/")

    calendar.wait_for_function(
        "(day) => document.querySelector("
        "`#activity-calendar rect.day[data-date='${day}']`).dataset.count === '2'",
        arg=today,
        timeout=ARRIVAL_MS,
    )
    assert calendar.evaluate("window.__notReloaded") is True
    label = activity.day_label(dt.date.fromisoformat(today), 2)
    assert label.startswith("2 events on ")
    today_cell = cell(calendar, today)
    assert today_cell.locator("title").text_content() == label
    assert today_cell.get_attribute("aria-label") == label
    # The only active day is the busiest: the darkest level.
    assert today_cell.get_attribute("data-level") == "4"
    assert calendar.locator('[data-stat="total"]').inner_text() == "2"
    assert calendar.locator('[data-stat="streak"]').inner_text() == "1 day"
    assert "is-bumped" in today_cell.get_attribute("class")

    # The keyboard stayed on the same day, whose tooltip has the new text.
    assert calendar.evaluate("document.activeElement.dataset.date") == today
    tooltip = calendar.locator(".calendar-tooltip")
    assert tooltip.is_visible()
    assert tooltip.inner_text() == label

    # What the page shows is what the server draws: a new page agrees.
    shown = grid_as_shown(calendar)
    calendar.reload()
    assert grid_as_shown(calendar) == shown

    # Events outside the filter leave the cell alone; a re-fetch agrees.
    calendar.select_option("#calendar-filter", "comments")
    calendar.wait_for_function(
        "JSON.parse(document.getElementById('activity-calendar').dataset.filter)"
        ".key === 'comments'"
    )
    assert cell(calendar, today).get_attribute("data-count") == "0"
    assert calendar.url.endswith(f"/people/{world.bob.pk}/activity/?filter=comments")
    calendar.select_option("#calendar-filter", "progress")
    calendar.wait_for_function(
        "JSON.parse(document.getElementById('activity-calendar').dataset.filter)"
        ".key === 'progress'"
    )
    assert cell(calendar, today).get_attribute("data-count") == "1"


def test_the_calendar_maps_instants_to_the_viewers_local_days(
    shared_store: None, world: World, open_as: Any
) -> None:
    world.bob.timezone = "Asia/Kathmandu"
    world.bob.save()
    page = open_as("bob")
    page.goto("/activity/")

    local = page.evaluate(
        """() => [
        "2023-07-04T18:14:59.999999Z", "2023-07-04T18:15:00.000000Z",
      ].map((t) => window.hivelight.calendar.localDate(t, "Asia/Kathmandu"))"""
    )
    london = page.evaluate(
        """() => [
        "2023-03-25T23:59:59.000000Z", "2023-03-26T23:00:00.000000Z",
        "2023-10-29T00:30:00.000000Z",
      ].map((t) => window.hivelight.calendar.localDate(t, "Europe/London"))"""
    )

    assert local == ["2023-07-04", "2023-07-05"]
    assert london == ["2023-03-25", "2023-03-27", "2023-10-29"]
    assert page.locator("#activity-calendar").get_attribute("data-tz") == (
        "Asia/Kathmandu"
    )


def until(page: Any, condition: Callable[[], bool], timeout_ms: int = 5_000) -> None:
    """Let the page run until `condition` (about the test's own records) holds."""
    for _ in range(timeout_ms // 50):
        if condition():
            return
        page.wait_for_timeout(50)
    assert condition()


def activity_message(user_id: int, name: str = "task.completed") -> str:
    """A live activity message for now, as the `activity_live` handler sends."""
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return json.dumps(
        {"kind": "activity", "user_id": user_id, "occurred_at": now, "name": name}
    )


def test_a_burst_of_live_events_costs_one_grid_request_and_one_more_after_it(
    shared_store: None, world: World, open_as: Any
) -> None:
    page = open_as("bob")
    sockets: list[Any] = []

    def relay(ws: Any) -> None:
        ws.connect_to_server()
        sockets.append(ws)

    # The page's socket goes through the test, which can add messages to it.
    page.route_web_socket("**/ws/live/", relay)
    page.goto("/activity/")
    page.wait_for_function(
        "window.__live.some((m) => m.kind === 'subscribed' && m.user_id > 0)"
    )
    shown = grid_as_shown(page)
    grid_requests: list[str] = []
    page.on(
        "request",
        lambda r: grid_requests.append(r.url) if "/activity/grid/" in r.url else None,
    )

    # Messages are only a cue: the counts are the server's, which has no such
    # events, so nothing changes, and five messages cost one request.
    with page.expect_response(lambda r: "/activity/grid/" in r.url):
        for _ in range(5):
            sockets[-1].send(activity_message(world.bob.pk))
    page.wait_for_timeout(1_000)
    assert len(grid_requests) == 1
    assert grid_as_shown(page) == shown

    # Messages while a request is out: one more request, after it.
    held: list[Any] = []

    def hold_the_first(route: Any) -> None:
        if held:
            route.continue_()
        else:
            held.append(route)

    page.route("**/activity/grid/**", hold_the_first)
    sockets[-1].send(activity_message(world.bob.pk))
    until(page, lambda: len(held) == 1)
    for _ in range(3):
        sockets[-1].send(activity_message(world.bob.pk))
    page.wait_for_timeout(800)
    assert len(grid_requests) == 2  # never two at once
    held[0].continue_()
    until(page, lambda: len(grid_requests) == 3)
    page.wait_for_timeout(1_000)
    assert len(grid_requests) == 3
    page.unroute("**/activity/grid/**")

    # Events the filter leaves out, of someone else, or of a day not shown
    # ask for nothing.
    page.select_option("#calendar-filter", "progress")
    page.wait_for_function(
        "JSON.parse(document.getElementById('activity-calendar').dataset.filter)"
        ".key === 'progress'"
    )
    asked = len(grid_requests)
    sockets[-1].send(activity_message(world.bob.pk, name="comment.added"))
    sockets[-1].send(activity_message(world.alice.pk))
    long_ago = json.loads(activity_message(world.bob.pk))
    long_ago["occurred_at"] = "2001-02-03T10:00:00.000000Z"
    sockets[-1].send(json.dumps(long_ago))
    page.wait_for_timeout(1_000)
    assert len(grid_requests) == asked

    # A reconnect asks once: what happened meanwhile is unknown.
    page.evaluate("window.hivelight.live.pause()")
    page.wait_for_function("window.hivelight.live.state === 'paused'")
    page.evaluate("window.hivelight.live.resume()")
    until(page, lambda: len(grid_requests) == asked + 1)
    page.wait_for_timeout(1_000)
    assert len(grid_requests) == asked + 1


def test_a_live_re_fetch_overtaken_by_a_new_filter_does_not_bring_the_old_back(
    shared_store: None, world: World, open_as: Any
) -> None:
    page = open_as("bob")
    sockets: list[Any] = []

    def relay(ws: Any) -> None:
        ws.connect_to_server()
        sockets.append(ws)

    page.route_web_socket("**/ws/live/", relay)
    page.goto("/activity/")
    page.wait_for_function(
        "window.__live.some((m) => m.kind === 'subscribed' && m.user_id > 0)"
    )
    held: list[Any] = []
    page.route("**/activity/grid/**", lambda route: held.append(route))

    # A live re-fetch is out when Bob picks another filter; its answer (all
    # events) comes back first, the filter's second.
    sockets[-1].send(activity_message(world.bob.pk))
    until(page, lambda: len(held) == 1)
    page.select_option("#calendar-filter", "logins")
    until(page, lambda: len(held) == 2)
    live, chosen = held
    assert "filter=logins" in chosen.request.url
    assert "filter=" not in live.request.url
    with page.expect_response(lambda r: r.url == live.request.url):
        live.continue_()
    with page.expect_response(lambda r: r.url == chosen.request.url):
        chosen.continue_()
    page.wait_for_function(
        "JSON.parse(document.getElementById('activity-calendar').dataset.filter)"
        ".key === 'logins'"
    )
    page.wait_for_timeout(800)

    root = page.locator("#activity-calendar")
    assert json.loads(root.get_attribute("data-filter"))["key"] == "logins"
    assert page.locator("#calendar-filter").input_value() == "logins"
    assert len(held) == 2  # and nothing asked for the old filter again


def test_a_matters_calendar_follows_its_work_and_lists_a_days_events(
    shared_store: None, world: World, celery_worker: Any, open_as: Any
) -> None:
    """Alice watches the walled matter's calendar; Bob, another person in
    another browser, completes its task. Walt, outside the wall, gets a 404."""
    task = make_task(
        world.walled, "Brightwater memo", actor=world.alice, status="IN_PROGRESS"
    )
    settled(celery_worker, "task.created", world.alice.pk)
    page = open_as("alice")
    page.goto(f"/matters/{world.walled.pk}/")
    page.get_by_role("link", name="Calendar").click()
    page.wait_for_url(f"**/matters/{world.walled.pk}/calendar/")
    page.wait_for_function(
        "(id) => window.__live.some((m) => m.kind === 'subscribed'"
        " && m.matter_id === id)",
        arg=world.walled.pk,
    )
    page.evaluate("window.__notReloaded = true")
    today = page.locator("#activity-calendar rect.day[data-date]").last
    today = today.get_attribute("data-date")
    # The matter's opening (its team) and the task's creation.
    before = int(cell(page, today).get_attribute("data-count"))
    assert before >= 2

    # Picking the day lists its events: as many as the day counts.
    cell(page, today).click()
    day = page.locator("#calendar-day")
    day.locator(".history-item").first.wait_for()
    assert day.locator(".history-item").count() == before
    assert "Brightwater memo" in day.inner_text()
    assert "is-picked" in cell(page, today).get_attribute("class")

    bob = open_as("bob")
    bob.goto(f"/tasks/{task.pk}/")
    bob.get_by_label("Status").select_option(label="Done")
    bob.get_by_role("button", name="Save changes").click()
    bob.wait_for_url(f"**/tasks/{task.pk}/")

    page.wait_for_function(
        "([day, n]) => document.querySelector("
        "`#activity-calendar rect.day[data-date='${day}']`).dataset.count === n",
        arg=[today, str(before + 1)],
        timeout=ARRIVAL_MS,
    )
    # The day listed follows: the completion joins it, without a reload.
    page.wait_for_function(
        "(n) => document.querySelectorAll('#calendar-day .history-item').length === n",
        arg=before + 1,
        timeout=ARRIVAL_MS,
    )
    assert "Bob" in day.inner_text()
    assert page.evaluate("window.__notReloaded") is True
    assert "is-picked" in cell(page, today).get_attribute("class")
    # The keyboard lists a day too, under the filter shown.
    page.select_option("#calendar-filter", "comments")
    page.wait_for_function(
        "JSON.parse(document.getElementById('activity-calendar').dataset.filter)"
        ".key === 'comments'"
    )
    page.wait_for_function(
        "document.querySelector('#calendar-day').textContent.includes('Nothing')"
    )
    cell(page, today).focus()
    page.keyboard.press("Enter")
    day.get_by_text("Comments on").wait_for()
    assert page.locator("#calendar-filter option[value='logins']").count() == 0

    walt = open_as("walt")
    response = walt.goto(f"/matters/{world.walled.pk}/calendar/")
    assert response.status == 404
    assert "Brightwater" not in walt.content()
