"""The header search box in a real browser: matches as you type, the keyboard."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.fixtures.factories import World, make_task

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _box(page: Any) -> Any:
    return page.get_by_role("searchbox", name="Search matters, tasks and comments")


def test_typing_shows_marked_matches_and_the_keyboard_opens_one(
    world: World, log_in: Any
) -> None:
    task = make_task(world.matter, "Instruct counsel on disclosure", actor=world.alice)
    make_task(world.walled, "Disclosure of Kestrel accounts", actor=world.alice)
    page = log_in("carol")
    box = _box(page)
    menu = page.locator("#search-menu")

    box.press_sequentially("disclos", delay=30)

    # The half-typed word already finds; the walled task is not there.
    expect(menu.get_by_role("link")).to_have_count(1)
    expect(menu.locator("mark")).to_have_text(["disclosure"])
    expect(menu).not_to_contain_text("Kestrel")
    expect(box).to_have_attribute("aria-expanded", "true")
    expect(page.locator("#announcer")).to_have_text(
        "1 task. Press Down to go through them."
    )

    box.press("ArrowDown")
    expect(menu.get_by_role("link")).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(menu.get_by_role("button", name="All results")).to_be_focused()
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowUp")
    expect(box).to_be_focused()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")

    page.wait_for_url(f"**/tasks/{task.pk}/")


def test_escape_closes_the_matches_and_enter_opens_every_result(
    world: World, log_in: Any
) -> None:
    task = make_task(world.matter, "Instruct counsel on disclosure", actor=world.alice)
    page = log_in("carol")
    box = _box(page)
    menu = page.locator("#search-menu")

    box.fill("counsel")
    expect(menu.get_by_role("link")).to_have_count(1)
    box.press("Escape")
    expect(menu.get_by_role("link")).to_have_count(0)
    expect(box).to_have_attribute("aria-expanded", "false")

    box.press("Enter")

    page.wait_for_url("**/search/?q=counsel")
    expect(page.get_by_role("heading", name="Search", exact=True)).to_be_visible()
    expect(page.locator(".search-hit-title")).to_have_text(
        "Instruct counsel on disclosure"
    )
    expect(page.locator(f'.search-hit a[href="/tasks/{task.pk}/"] mark')).to_have_text(
        "counsel"
    )
    # The page does not write the query into itself; the box shows it.
    expect(_box(page)).to_have_value("counsel")


def test_slash_puts_the_cursor_in_the_box_unless_one_is_typing(
    world: World, log_in: Any
) -> None:
    task = make_task(world.matter, "Serve the claim form", actor=world.alice)
    page = log_in("alice")

    page.keyboard.press("/")
    expect(_box(page)).to_be_focused()

    page.goto(f"/tasks/{task.pk}/")
    comment = page.get_by_label("Add a comment")
    comment.focus()
    page.keyboard.type("a/b")
    expect(comment).to_have_value("a/b")
