"""Running a firm in a real browser: a matter opened, walled and staffed live.

Dora (firm admin) opens a matter, walls it and adds Carol to its team from
her pages; Carol, with her home page open in her own browser, sees the
matter appear without reloading (the team change is captured, relayed by a
real worker, and pushed to her socket), and opens its board.
"""

from __future__ import annotations

from typing import Any

import pytest

from tasks_app.models import Matter, MatterMember
from tests.fixtures.factories import World

pytestmark = [
    pytest.mark.browser,
    pytest.mark.services,
    pytest.mark.django_db(transaction=True),
]


def test_a_firm_admin_opens_walls_and_staffs_a_matter_and_the_person_sees_it_live(
    event_store: Any, world: World, celery_worker: Any, open_as: Any
) -> None:
    carol = open_as("carol")
    carol.wait_for_function(
        "window.hivelight && window.hivelight.live.state === 'open'"
    )
    carol.evaluate("window.__notReloaded = true")
    matters = carol.locator("#home-matters")
    assert "Hawthorn estate" not in matters.inner_text()

    dora = open_as("dora")
    dora.goto("/matters/")
    dora.get_by_role("link", name="Open a matter").click()
    dora.get_by_label("Number").fill("HV-2099")
    dora.get_by_label("Name").fill("Hawthorn estate")
    dora.get_by_label("Client").fill("Hawthorn family")
    dora.get_by_label("Alice Hartley").check()  # on the team
    dora.get_by_role("button", name="Open the matter").click()
    dora.wait_for_url("**/settings/")
    matter = Matter.objects.get(number="HV-2099")

    dora.once("dialog", lambda dialog: dialog.accept())
    dora.get_by_role("button", name="Put up an ethical wall").click()
    dora.get_by_text("only its team can see it").first.wait_for()
    assert Matter.objects.get(pk=matter.pk).is_restricted
    # Dora ran it from outside: she does not see inside the wall.
    assert "Hawthorn estate" not in dora.locator("h1").inner_text()

    add = dora.locator("#team-add")
    add.get_by_label("Person").select_option(label="Carol King")
    add.get_by_label("Role").select_option(label="Paralegal")
    add.get_by_role("button", name="Add to the team").click()
    dora.get_by_text("Carol King joined the team").wait_for()
    assert MatterMember.objects.filter(matter=matter, user=world.carol).exists()

    # Carol's home page lists the matter, live, without a reload.
    matters.get_by_role("link", name="Hawthorn estate").wait_for(timeout=20_000)
    assert carol.evaluate("window.__notReloaded === true")
    matters.get_by_role("link", name="Hawthorn estate").click()
    carol.wait_for_url(f"**/matters/{matter.pk}/")
    assert carol.locator("h1").inner_text().strip().endswith("Hawthorn estate")
