"""The board in a real browser: drag and drop, keyboard moves, comments."""

from __future__ import annotations

from typing import Any

import pytest

from tasks_app.models import Comment, Task
from tests.fixtures.factories import World, make_task

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _column_titles(page: Any, status: str) -> list[str]:
    return page.locator(f"#column-{status} .card .card-title").all_inner_texts()


def _drag(page: Any, source: Any, target: Any, **kwargs: Any) -> None:
    """Drag a card and wait until the server has answered the move."""
    with page.expect_response(lambda r: "/move/" in r.url) as response:
        source.drag_to(target, **kwargs)
    assert response.value.ok, response.value.text()
    # The board re-draws itself from the server after every move.
    page.wait_for_load_state("networkidle")


def test_dragging_a_card_to_in_progress_keeps_it_there_after_reload(
    world: World, log_in: Any
) -> None:
    task = make_task(world.matter, "Draft letter before claim", actor=world.alice)
    make_task(world.matter, "Check limitation date", actor=world.alice)
    page = log_in("alice")
    page.goto(f"/matters/{world.matter.pk}/")

    _drag(
        page,
        page.locator(f"#task-{task.pk}"),
        page.locator("#column-IN_PROGRESS .card-list"),
    )

    # The server's answer re-drew the board and told screen readers.
    assert _column_titles(page, "IN_PROGRESS") == ["Draft letter before claim"]
    announced = page.locator("#announcer").text_content()
    assert announced == "Moved “Draft letter before claim” in In progress."
    page.reload()
    assert _column_titles(page, "IN_PROGRESS") == ["Draft letter before claim"]
    assert _column_titles(page, "TODO") == ["Check limitation date"]
    task.refresh_from_db()
    assert task.status == Task.Status.IN_PROGRESS
    assert task.last_modified_by == world.alice


def test_reordering_cards_within_a_column_persists_after_reload(
    world: World, log_in: Any
) -> None:
    first = make_task(world.matter, "First", actor=world.alice)
    make_task(world.matter, "Second", actor=world.alice)
    third = make_task(world.matter, "Third", actor=world.alice)
    page = log_in("alice")
    page.goto(f"/matters/{world.matter.pk}/")
    assert _column_titles(page, "TODO") == ["First", "Second", "Third"]

    # Drop "Third" on the upper edge of "First": it goes to the top.
    _drag(
        page,
        page.locator(f"#task-{third.pk}"),
        page.locator(f"#task-{first.pk}"),
        target_position={"x": 30, "y": 4},
    )

    page.reload()
    assert _column_titles(page, "TODO") == ["Third", "First", "Second"]


def test_keyboard_move_menu_moves_a_card_and_keeps_focus_on_it(
    world: World, log_in: Any
) -> None:
    task = make_task(world.matter, "Serve the claim form", actor=world.alice)
    page = log_in("alice")
    page.goto(f"/matters/{world.matter.pk}/")

    page.locator(f"#task-{task.pk} .move-menu summary").focus()
    page.keyboard.press("Enter")
    page.locator(f"#task-{task.pk}").get_by_role("button", name="In review").focus()
    with page.expect_response(lambda r: "/move/" in r.url):
        page.keyboard.press("Enter")

    page.locator(f"#column-IN_REVIEW #task-{task.pk}").wait_for()
    # Focus returns to the moved card, so the next key press acts on it again.
    page.wait_for_function(
        f"document.activeElement.closest('#task-{task.pk}') !== null"
    )
    announced = page.locator("#announcer").text_content()
    assert announced == "Moved “Serve the claim form” in In review."
    page.reload()
    assert _column_titles(page, "IN_REVIEW") == ["Serve the claim form"]


def test_comment_added_on_the_task_page_is_shown_and_saved(
    world: World, log_in: Any
) -> None:
    task = make_task(world.matter, "Prepare witness bundle", actor=world.alice)
    page = log_in("alice")
    page.goto(f"/matters/{world.matter.pk}/")
    page.get_by_role("link", name="Prepare witness bundle").click()
    page.wait_for_url(f"**/tasks/{task.pk}/")

    page.get_by_label("Add a comment").fill("Bundle index agreed with counsel.")
    page.get_by_role("button", name="Add comment").click()

    comment = page.locator(".comment").filter(has_text="Bundle index agreed")
    comment.wait_for()
    assert "Alice Hartley" in comment.inner_text()
    page.reload()
    assert page.locator(".comment-body").all_inner_texts() == [
        "Bundle index agreed with counsel."
    ]
    saved = Comment.objects.get(task=task)
    assert saved.author == world.alice


def test_quick_add_puts_a_new_card_at_the_bottom_of_its_column(
    world: World, log_in: Any
) -> None:
    make_task(world.matter, "Existing", actor=world.alice)
    page = log_in("alice")
    page.goto(f"/matters/{world.matter.pk}/")

    page.get_by_label("New task in To do").fill("Call the client")
    with page.expect_response(lambda r: "/tasks/new/" in r.url):
        page.get_by_label("New task in To do").press("Enter")
    page.locator("#column-TODO .card", has_text="Call the client").wait_for()

    assert _column_titles(page, "TODO") == ["Existing", "Call the client"]
    assert page.evaluate("document.activeElement.id") == "quick-add-TODO"


def test_a_refused_drag_shows_the_servers_message_and_redraws_the_board(
    world: World, log_in: Any
) -> None:
    from tasks_app import services

    gone = make_task(world.matter, "Settle the costs", actor=world.alice)
    make_task(world.matter, "File the defence", actor=world.alice)
    page = log_in("alice")
    page.goto(f"/matters/{world.matter.pk}/")
    # Someone else deletes the card while it is still on Alice's board.
    services.task_delete(actor=world.bob, task_id=gone.pk)

    with page.expect_response(lambda r: "/move/" in r.url) as response:
        page.locator(f"#task-{gone.pk}").drag_to(
            page.locator("#column-IN_PROGRESS .card-list")
        )
    assert response.value.status == 404

    # The board is drawn again from the server: the card is gone everywhere.
    page.locator(f"#task-{gone.pk}").wait_for(state="detached")
    page.wait_for_load_state("networkidle")
    assert _column_titles(page, "TODO") == ["File the defence"]
    assert _column_titles(page, "IN_PROGRESS") == []
    assert page.locator("#flash .flash-error").inner_text() == "No such task."


def test_a_drag_that_never_reaches_the_server_puts_the_card_back(
    world: World, log_in: Any
) -> None:
    task = make_task(world.matter, "Book the hearing", actor=world.alice)
    page = log_in("alice")
    page.goto(f"/matters/{world.matter.pk}/")
    page.route("**/move/", lambda route: route.abort("internetdisconnected"))

    page.locator(f"#task-{task.pk}").drag_to(
        page.locator("#column-IN_PROGRESS .card-list")
    )

    page.locator("#flash .flash-error").wait_for()
    assert page.locator("#flash .flash-error").inner_text() == (
        "The server could not be reached. Please try again."
    )
    page.locator(f"#column-TODO #task-{task.pk}").wait_for()
    assert _column_titles(page, "IN_PROGRESS") == []
    task.refresh_from_db()
    assert task.status == Task.Status.TODO


def test_a_board_that_can_no_longer_be_drawn_is_not_asked_for_again_and_again(
    world: World, log_in: Any
) -> None:
    task = make_task(world.walled, "Review the privileged file", actor=world.bob)
    page = log_in("bob")
    page.goto(f"/matters/{world.walled.pk}/")
    # Bob is taken off the walled matter while its board is open.
    world.walled.members.remove(world.bob)
    redraws: list[str] = []
    page.on(
        "request",
        lambda r: redraws.append(r.url) if "/board/columns/" in r.url else None,
    )

    with page.expect_response(lambda r: "/move/" in r.url) as response:
        page.locator(f"#task-{task.pk}").drag_to(
            page.locator("#column-IN_PROGRESS .card-list")
        )
    assert response.value.status == 404

    page.locator("#flash .flash-error", has_text="No such matter.").wait_for()
    page.wait_for_timeout(1_500)
    assert len(redraws) == 1
