"""Review in real browsers: Bob drafts, Alice reviews, each on their own page.

Bob drags his card to In review; Alice hears of it live, returns it with a
comment; Bob hears that live and sees his card back In progress; he sends it
again and Alice approves it from her "Waiting for my review" list. Every
change goes through the outbox, a real Celery worker, DynamoDB Local and
channels-redis to the other person's page.
"""

from __future__ import annotations

from typing import Any

import pytest

from tasks_app.models import MatterMember, Task
from tests.browser.test_live import drag, wait_live
from tests.fixtures.factories import World, make_task

pytestmark = [
    pytest.mark.browser,
    pytest.mark.services,
    pytest.mark.django_db(transaction=True),
]


def test_bob_asks_for_review_alice_returns_it_then_approves_it(
    event_store: Any, world: World, celery_worker: Any, open_as: Any
) -> None:
    MatterMember.objects.create(
        matter=world.matter, user=world.alice, role="RESPONSIBLE_PARTNER"
    )
    MatterMember.objects.create(matter=world.matter, user=world.bob)
    task = make_task(
        world.matter,
        "Draft the particulars of claim",
        actor=world.bob,
        assignee=world.bob,
        reviewer=world.alice,
        status="IN_PROGRESS",
    )
    board = f"/matters/{world.matter.pk}/"
    bob = open_as("bob")
    bob.goto(board)
    alice = open_as("alice")
    wait_live(alice)
    wait_live(bob, "subscribed")
    card = bob.locator(f"#task-{task.pk}")
    assert card.locator(".reviewer-chip").inner_text() == "Review: AH"

    # Bob asks for review by moving his card.
    drag(bob, card, bob.locator("#column-IN_REVIEW .card-list"))

    toast = alice.locator(".toast", has_text="asks for your review")
    toast.wait_for(timeout=15_000)
    assert toast.inner_text().startswith(
        "Bob Stone asks for your review of “Draft the particulars of claim”"
    )
    toast.get_by_role("link").click()
    alice.wait_for_url(f"**/tasks/{task.pk}/")

    # Alice returns it with what to change; a blank comment is refused first.
    alice.get_by_role("button", name="Return: back to In progress").click()
    assert Task.objects.get(pk=task.pk).status == "IN_REVIEW"
    alice.get_by_label("What needs to change").fill(
        "Plead the contract terms relied on."
    )
    alice.get_by_role("button", name="Return: back to In progress").click()
    alice.get_by_text("Returned “Draft the particulars of claim” with your comment.")

    returned = bob.locator(".toast", has_text="returned")
    returned.wait_for(timeout=15_000)
    assert "Plead the contract terms relied on." in returned.inner_text()
    bob.locator(f"#column-IN_PROGRESS #task-{task.pk}").wait_for(timeout=15_000)

    # Bob sends it again; Alice finds it on her list and approves it.
    drag(
        bob,
        bob.locator(f"#task-{task.pk}"),
        bob.locator("#column-IN_REVIEW .card-list"),
    )
    alice.locator(".toast", has_text="asks for your review").nth(0).wait_for(
        timeout=15_000
    )
    alice.goto("/reviews/")
    alice.get_by_role("link", name="Draft the particulars of claim").click()
    alice.get_by_role("button", name="Approve: mark Done").click()
    alice.get_by_text("Approved “Draft the particulars of claim”: it is Done.")

    approved = bob.locator(".toast", has_text="approved")
    approved.wait_for(timeout=15_000)
    assert approved.inner_text().startswith(
        "Alice Hartley approved “Draft the particulars of claim”"
    )
    bob.locator(f"#column-DONE #task-{task.pk}").wait_for(timeout=15_000)
    assert Task.objects.get(pk=task.pk).status == "DONE"
