"""Live pages in real browsers: two people, a live ASGI server, a real worker.

Alice and Bob each have their own browser context on daphne; Alice's
changes go through the outbox, a real Celery worker, DynamoDB Local and
channels-redis before they reach Bob's page.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from playwright.sync_api import expect

from events_app.models import HandlerRun, Notification
from tests.fixtures.factories import World, make_task

pytestmark = [
    pytest.mark.browser,
    pytest.mark.services,
    pytest.mark.django_db(transaction=True),
]


def wait_live(page: Any, kind: str = "hello") -> None:
    """Wait until the page's socket is open (and, for boards, subscribed)."""
    page.wait_for_function("window.hivelight && window.hivelight.live.state === 'open'")
    if kind == "subscribed":
        page.wait_for_function("window.__live.some((m) => m.kind === 'subscribed')")


def live_kinds(page: Any) -> list[str]:
    return page.evaluate("window.__live.map((m) => m.kind)")


def column_of(page: Any, task_id: int) -> str | None:
    return page.evaluate(
        f"(document.getElementById('task-{task_id}') || {{dataset: {{}}}})"
        ".dataset.status || null"
    )


def drag(page: Any, source: Any, target: Any) -> None:
    with page.expect_response(lambda r: "/move/" in r.url) as response:
        source.drag_to(target)
    assert response.value.ok, response.value.text()


def test_an_assignment_rings_bobs_bell_and_shows_a_toast_without_reload(
    event_store: Any, world: World, celery_worker: Any, open_as: Any
) -> None:
    task = make_task(world.matter, "Draft the reply", actor=world.alice)
    bob = open_as("bob")
    wait_live(bob)
    bob.evaluate("window.__notReloaded = true")
    badge = bob.locator("#notif-bell-link [data-notif-count]")
    assert badge.is_hidden()

    alice = open_as("alice")
    alice.goto(f"/tasks/{task.pk}/")
    alice.get_by_label("Assignee").select_option(label="Bob Stone")
    alice.get_by_role("button", name="Save changes").click()
    alice.wait_for_url(f"**/tasks/{task.pk}/")

    toast = bob.locator(".toast")
    toast.wait_for(timeout=15_000)
    assert toast.inner_text().startswith("Alice Hartley assigned you “Draft the reply”")
    assert badge.inner_text() == "1"
    assert bob.get_by_role("link", name="Notifications: 1 unread").is_visible()
    assert bob.evaluate("window.__notReloaded") is True

    # Following the toast opens the task and reads the notification.
    toast.get_by_role("link").click()
    bob.wait_for_url(f"**/tasks/{task.pk}/")
    assert badge.is_hidden()
    assert Notification.objects.get(recipient=world.bob).read_at is not None

    # A toast without a link of its own leads to the notifications page.
    bob.evaluate("window.hivelight.toast('Something happened')")
    bob.locator(".toast", has_text="Something happened").get_by_role("link").click()
    bob.wait_for_url("**/notifications/")


def test_a_card_alice_drags_moves_on_bobs_board_within_two_seconds(
    event_store: Any, world: World, celery_worker: Any, open_as: Any
) -> None:
    task = make_task(world.matter, "Instruct counsel", actor=world.alice)
    make_task(world.matter, "Check limitation", actor=world.alice)
    board = f"/matters/{world.matter.pk}/"
    bob = open_as("bob")
    bob.goto(board)
    alice = open_as("alice")
    alice.goto(board)
    wait_live(bob, "subscribed")
    wait_live(alice, "subscribed")
    alice_fetched: list[str] = []
    alice.on("request", lambda r: alice_fetched.append(r.url))

    drag(
        alice,
        alice.locator(f"#task-{task.pk}"),
        alice.locator("#column-IN_PROGRESS .card-list"),
    )
    moved_at = time.monotonic()

    bob.locator(f"#column-IN_PROGRESS #task-{task.pk}").wait_for(timeout=2_000)
    assert time.monotonic() - moved_at < 2.0
    expect(bob.locator("#column-TODO .card-title")).to_have_text(["Check limitation"])
    expect(bob.locator("#column-IN_PROGRESS .column-count")).to_have_text("1")
    # Alice's own tab re-drew from its own answer; its echo was not sent to it.
    bob.wait_for_timeout(300)
    assert "board" not in live_kinds(alice)
    assert "board" in live_kinds(bob)
    # So it re-drew once, the whole board, and fetched no card or column again.
    assert alice.locator(f"#column-IN_PROGRESS #task-{task.pk}").count() == 1
    redraws = [url for url in alice_fetched if "/board/columns/" in url]
    assert len(redraws) == 1 and "status=" not in redraws[0]
    assert not [url for url in alice_fetched if url.endswith("/card/")]


def test_a_board_reconnecting_catches_up_with_moves_it_missed(
    event_store: Any, world: World, celery_worker: Any, open_as: Any
) -> None:
    task = make_task(world.matter, "Serve the claim form", actor=world.alice)
    bob = open_as("bob")
    bob.goto(f"/matters/{world.matter.pk}/")
    wait_live(bob, "subscribed")
    bob.evaluate("window.hivelight.live.pause()")
    bob.wait_for_function("window.hivelight.live.state === 'paused'")

    alice = open_as("alice")
    alice.goto(f"/matters/{world.matter.pk}/")
    drag(
        alice,
        alice.locator(f"#task-{task.pk}"),
        alice.locator("#column-IN_REVIEW .card-list"),
    )
    celery_worker.wait_for(
        HandlerRun.objects.filter(handler="live_board:task.status_changed").exists,
        message="the move's board message was sent",
    )
    bob.wait_for_timeout(300)
    assert column_of(bob, task.pk) == "TODO"  # missed while disconnected

    bob.evaluate("window.hivelight.live.resume()")

    bob.locator(f"#column-IN_REVIEW #task-{task.pk}").wait_for(timeout=5_000)


def test_a_live_refresh_keeps_what_bob_is_typing(
    event_store: Any, world: World, celery_worker: Any, open_as: Any
) -> None:
    task = make_task(world.matter, "Chase the expert", actor=world.alice)
    bob = open_as("bob")
    bob.goto(f"/matters/{world.matter.pk}/")
    wait_live(bob, "subscribed")
    bob.get_by_label("New task in In progress").fill("Half-typed title")

    alice = open_as("alice")
    alice.goto(f"/matters/{world.matter.pk}/")
    drag(
        alice,
        alice.locator(f"#task-{task.pk}"),
        alice.locator("#column-IN_PROGRESS .card-list"),
    )

    bob.locator(f"#column-IN_PROGRESS #task-{task.pk}").wait_for(timeout=5_000)
    assert bob.get_by_label("New task in In progress").input_value() == (
        "Half-typed title"
    )


def board_titles(page: Any, status: str) -> list[str]:
    return page.locator(f"#column-{status} .card-title").all_inner_texts()


def neighbours(page: Any, task_id: int) -> dict[str, Any]:
    """What the card's Up and Down forms name (None: hidden at the column's end)."""
    return page.evaluate(
        """(id) => {
          const card = document.getElementById("task-" + id);
          const named = (field) => {
            const input = card.querySelector('input[name="' + field + '"]');
            return input.form.hidden ? null : Number(input.value);
          };
          return {up: named("before_id"), down: named("after_id")};
        }""",
        task_id,
    )


def test_bobs_board_puts_alices_changes_in_place_without_a_request(
    event_store: Any, world: World, celery_worker: Any, open_as: Any
) -> None:
    """The board message carries the card: Bob's page places it, re-links the
    keyboard's Up and Down, counts the column, and fetches nothing."""
    from tasks_app import services

    first = make_task(world.matter, "Draft particulars", actor=world.alice)
    second = make_task(world.matter, "Serve the claim", actor=world.alice)
    third = make_task(world.matter, "Chase <the> expert", actor=world.alice)
    bob = open_as("bob")
    bob.goto(f"/matters/{world.matter.pk}/")
    wait_live(bob, "subscribed")
    fetched: list[str] = []
    bob.on("request", lambda r: fetched.append(r.url))

    # Alice puts the third card on top of To do (a move within the column).
    services.task_move(
        actor=world.alice, task_id=third.pk, status="TODO", before_id=first.pk
    )
    expect(bob.locator("#column-TODO .card-title")).to_have_text(
        ["Chase <the> expert", "Draft particulars", "Serve the claim"], timeout=5_000
    )
    assert neighbours(bob, third.pk) == {"up": None, "down": first.pk}
    assert neighbours(bob, first.pk) == {"up": third.pk, "down": second.pk}
    assert neighbours(bob, second.pk) == {"up": first.pk, "down": None}

    # She starts the first: it leaves To do for In progress, both counted again.
    services.task_move(actor=world.alice, task_id=first.pk, status="IN_PROGRESS")
    bob.locator(f"#column-IN_PROGRESS #task-{first.pk}").wait_for(timeout=5_000)
    expect(bob.locator("#column-IN_PROGRESS .column-count")).to_have_text("1")
    expect(bob.locator("#column-TODO .column-count")).to_have_text("2")
    assert neighbours(bob, third.pk) == {"up": None, "down": second.pk}
    assert neighbours(bob, first.pk) == {"up": None, "down": None}
    assert bob.locator("#column-IN_PROGRESS .column-empty").count() == 0

    # She deletes the second: gone from Bob's board.
    services.task_delete(actor=world.alice, task_id=second.pk)
    expect(bob.locator(f"#task-{second.pk}")).to_have_count(0, timeout=5_000)
    expect(bob.locator("#column-TODO .column-count")).to_have_text("1")
    assert neighbours(bob, third.pk) == {"up": None, "down": None}

    # All of it without a single request from Bob's page.
    assert [url for url in fetched if "/matters/" in url or "/tasks/" in url] == []

    # The placed card works: Bob moves it with its own menu (his CSRF token).
    services.task_move(actor=world.alice, task_id=first.pk, status="TODO")
    expect(bob.locator("#column-TODO .card-title")).to_have_text(
        ["Chase <the> expert", "Draft particulars"], timeout=5_000
    )
    bob.locator(f"#task-{first.pk} .move-menu summary").click()
    with bob.expect_response(lambda r: "/move/" in r.url) as response:
        bob.locator(f"#task-{first.pk}").get_by_role("button", name="Up").click()
    assert response.value.status == 204, response.value.text()
    expect(bob.locator("#column-TODO .card-title")).to_have_text(
        ["Draft particulars", "Chase <the> expert"]
    )
    assert list(
        world.matter.tasks.filter(status="TODO")
        .order_by("rank", "id")
        .values_list("pk", flat=True)
    ) == [first.pk, third.pk]


def test_a_filtered_board_takes_and_drops_cards_as_they_match(
    event_store: Any, world: World, celery_worker: Any, open_as: Any
) -> None:
    from tasks_app import services

    mine = make_task(world.matter, "Bob's first", actor=world.alice)
    services.task_assign(actor=world.alice, task_id=mine.pk, assignee=world.bob)
    other = make_task(world.matter, "Not Bob's yet", actor=world.alice)
    bob = open_as("bob")
    bob.goto(f"/matters/{world.matter.pk}/?assignee={world.bob.pk}")
    wait_live(bob, "subscribed")
    assert board_titles(bob, "TODO") == ["Bob's first"]

    services.task_assign(actor=world.alice, task_id=other.pk, assignee=world.bob)
    expect(bob.locator("#column-TODO .card-title")).to_have_text(
        ["Bob's first", "Not Bob's yet"], timeout=5_000
    )
    services.task_assign(actor=world.alice, task_id=mine.pk, assignee=world.carol)
    expect(bob.locator("#column-TODO .card-title")).to_have_text(
        ["Not Bob's yet"], timeout=5_000
    )
    expect(bob.locator("#column-TODO .column-count")).to_have_text("1")
    # A card for someone else never shows on Bob's filtered board.
    make_task(world.matter, "Carol's new task", actor=world.alice)
    bob.wait_for_timeout(1_500)
    assert board_titles(bob, "TODO") == ["Not Bob's yet"]


def test_a_card_being_pressed_is_not_replaced_under_the_pointer(
    event_store: Any, world: World, celery_worker: Any, open_as: Any
) -> None:
    """Replacing a card as Bob presses it to drag it cancels his drag. A
    message no newer than his card leaves it alone, and a newer one waits
    until he lets go."""
    from events_app.live import groups
    from tasks_app import cards, services

    task = make_task(world.matter, "Draft particulars", actor=world.alice)
    other = make_task(world.matter, "Serve the claim", actor=world.alice)
    bob = open_as("bob")
    bob.goto(f"/matters/{world.matter.pk}/")
    wait_live(bob, "subscribed")
    card = f"document.getElementById('task-{task.pk}')"

    def same_element() -> bool:
        return bob.evaluate(f"{card}.dataset.marked === 'yes'")

    bob.evaluate(f"{card}.dataset.marked = 'yes'")

    # The card as Bob's page already shows it, sent again (as the second
    # message of one save is): nothing to do.
    groups.send_to_matter(
        world.matter.pk,
        {
            "kind": "board",
            "matter_id": world.matter.pk,
            "task_id": task.pk,
            "event": "task.updated",
            "event_id": "same-version",
            "card": cards.live_card(task_id=task.pk, matter_id=world.matter.pk),
        },
    )
    # Handled in order: once Alice's next change shows, that one was handled.
    services.task_update(actor=world.alice, task_id=other.pk, title="Serve it now")
    expect(bob.locator(f"#task-{other.pk} .card-title")).to_have_text(
        "Serve it now", timeout=5_000
    )
    assert same_element()

    # Bob presses the card; Alice renames it meanwhile.
    bob.locator(f"#task-{task.pk}").dispatch_event("pointerdown")
    services.task_update(actor=world.alice, task_id=task.pk, title="Draft it again")
    bob.wait_for_function(
        "window.__live.some((m) => m.kind === 'board' && m.task_id === "
        f"{task.pk} && m.card && m.card.html.includes('Draft it again'))",
        timeout=5_000,
    )
    bob.wait_for_timeout(500)  # well past the 60 ms batch, within the press
    assert same_element()
    expect(bob.locator(f"#task-{task.pk} .card-title")).to_have_text(
        "Draft particulars"
    )

    # He lets go: the change is applied.
    bob.evaluate("document.dispatchEvent(new PointerEvent('pointerup'))")
    expect(bob.locator(f"#task-{task.pk} .card-title")).to_have_text(
        "Draft it again", timeout=5_000
    )
    assert not same_element()
