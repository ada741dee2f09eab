"""Running matters: open, edit, close; the team; the wall; each change recorded."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.test import Client

from events_app import names
from events_app.models import OutboxEvent
from tasks_app import selectors, services
from tasks_app.models import Matter, MatterMember, Task
from tests.fixtures.factories import make_matter, make_task, make_user


def events_of(matter: Matter) -> list[str]:
    return list(
        OutboxEvent.objects.filter(entity_key=f"matter:{matter.pk}")
        .order_by("seq")
        .values_list("name", flat=True)
    )


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_partner_opens_a_matter_and_runs_it(world):
    matter = services.matter_create(
        actor=world.alice,
        number="HV-100",
        name="Acme v Beta",
        client_name="Acme Ltd",
        members=[world.bob, world.carol],
    )

    roles = {m.user: m.role for m in matter.team.all()}
    assert roles == {
        world.alice: MatterMember.Role.RESPONSIBLE_PARTNER,
        world.bob: MatterMember.Role.ASSOCIATE,
        world.carol: MatterMember.Role.PARALEGAL,
    }
    assert events_of(matter) == [
        names.MATTER_CREATED,
        names.MATTER_MEMBER_ADDED,
        names.MATTER_MEMBER_ADDED,
        names.MATTER_MEMBER_ADDED,
    ]
    created = OutboxEvent.objects.get(
        entity_key=f"matter:{matter.pk}", name=names.MATTER_CREATED
    ).payload
    assert created["subject"] == {
        "type": "matter",
        "id": matter.pk,
        "label": "HV-100 Acme v Beta",
    }
    assert created["actor"]["id"] == world.alice.pk


def test_only_partners_and_firm_admins_open_matters(world):
    with pytest.raises(PermissionDenied):
        services.matter_create(actor=world.bob, number="X", name="No", client_name="No")
    matter = services.matter_create(
        actor=world.dora, number="HV-101", name="By the admin", client_name="C"
    )
    assert not matter.team.exists()  # a firm admin does not join by opening


def test_a_matter_number_is_unique_in_its_firm_only(world):
    services.matter_create(actor=world.alice, number="DUP", name="A", client_name="C")
    with pytest.raises(ValidationError):
        services.matter_create(
            actor=world.alice, number="DUP", name="B", client_name="C"
        )
    services.matter_create(actor=world.oscar, number="DUP", name="B", client_name="C")


def test_the_team_takes_only_the_firms_active_people_and_one_responsible_partner(
    world,
):
    leaver = make_user(world.firm, "leaver")
    leaver.is_active = False
    leaver.save()
    for person in (world.oscar, leaver):
        with pytest.raises(ValidationError):
            services.team_member_add(
                actor=world.alice,
                matter_id=world.matter.pk,
                user=person,
                role=MatterMember.Role.ASSOCIATE,
            )
    services.team_member_add(
        actor=world.alice,
        matter_id=world.matter.pk,
        user=world.alice,
        role=MatterMember.Role.RESPONSIBLE_PARTNER,
    )
    with pytest.raises(ValidationError, match="already the responsible partner"):
        services.team_member_add(
            actor=world.alice,
            matter_id=world.matter.pk,
            user=world.bob,
            role=MatterMember.Role.RESPONSIBLE_PARTNER,
        )
    with pytest.raises(ValidationError, match="not a matter role"):
        services.team_member_add(
            actor=world.alice, matter_id=world.matter.pk, user=world.bob, role="BOSS"
        )


def test_adding_someone_to_a_wall_lets_them_in_and_is_recorded(world):
    assert not selectors.user_can_see_matter(user=world.carol, matter=world.walled)

    services.team_member_add(
        actor=world.alice,
        matter_id=world.walled.pk,
        user=world.carol,
        role=MatterMember.Role.PARALEGAL,
    )

    assert selectors.user_can_see_matter(user=world.carol, matter=world.walled)
    added = OutboxEvent.objects.filter(name=names.MATTER_MEMBER_ADDED).last().payload
    assert added["changes"]["user"][1] == {"id": world.carol.pk, "name": "Carol King"}
    assert added["changes"]["role"] == [None, "PARALEGAL"]
    assert added["matter"]["id"] == world.walled.pk


def test_a_firm_admin_manages_a_wall_from_outside_but_cannot_step_in(world):
    listed = selectors.matter_queryset_for_manager(user=world.dora)
    assert world.walled in listed
    with pytest.raises(Http404):
        selectors.matter_get_for_user(user=world.dora, matter_id=world.walled.pk)

    services.team_member_add(
        actor=world.dora,
        matter_id=world.walled.pk,
        user=world.carol,
        role=MatterMember.Role.PARALEGAL,
    )
    with pytest.raises(PermissionDenied):
        services.team_member_add(
            actor=world.dora,
            matter_id=world.walled.pk,
            user=world.dora,
            role=MatterMember.Role.ASSOCIATE,
        )
    with pytest.raises(PermissionDenied, match="inside the wall"):
        services.matter_update(
            actor=world.dora,
            matter_id=world.walled.pk,
            number="HV-002",
            name="Renamed from outside",
            client_name="X",
        )


def test_a_partner_outside_a_wall_cannot_reach_it(world):
    outsider = make_user(world.firm, "pat", "PARTNER")
    with pytest.raises(Http404):
        services.matter_set_wall(
            actor=outsider, matter_id=world.walled.pk, restricted=False
        )
    with pytest.raises(Http404):
        services.team_member_add(
            actor=outsider,
            matter_id=world.walled.pk,
            user=outsider,
            role=MatterMember.Role.ASSOCIATE,
        )


def test_walls_go_up_and_down_and_each_change_is_recorded(world):
    services.team_member_add(
        actor=world.alice,
        matter_id=world.matter.pk,
        user=world.alice,
        role=MatterMember.Role.RESPONSIBLE_PARTNER,
    )

    services.matter_set_wall(
        actor=world.alice, matter_id=world.matter.pk, restricted=True
    )
    assert not selectors.user_can_see_matter(user=world.carol, matter=world.matter)
    services.matter_set_wall(
        actor=world.alice, matter_id=world.matter.pk, restricted=False
    )
    assert selectors.user_can_see_matter(user=world.carol, matter=world.matter)

    walls = [
        e.payload["changes"]["is_restricted"]
        for e in OutboxEvent.objects.filter(name=names.MATTER_WALL_CHANGED)
    ]
    assert walls == [[False, True], [True, False]]


def test_a_wall_never_shuts_out_everyone_or_the_partner_putting_it_up(world):
    empty = make_matter(world.firm, "HV-EMPTY")
    with pytest.raises(ValidationError, match="before walling"):
        services.matter_set_wall(actor=world.alice, matter_id=empty.pk, restricted=True)
    services.team_member_add(
        actor=world.dora,
        matter_id=empty.pk,
        user=world.bob,
        role=MatterMember.Role.ASSOCIATE,
    )
    with pytest.raises(ValidationError, match="leave you outside"):
        services.matter_set_wall(actor=world.alice, matter_id=empty.pk, restricted=True)
    # A firm admin walls it from outside: that is their job.
    services.matter_set_wall(actor=world.dora, matter_id=empty.pk, restricted=True)


def test_a_closed_matter_leaves_the_lists_keeps_its_record_and_takes_no_work(world):
    task = make_task(world.matter, "Filed away", actor=world.alice)

    services.matter_close(actor=world.alice, matter_id=world.matter.pk)

    assert world.matter not in selectors.matter_list_for_user(user=world.bob)
    assert selectors.task_get_for_user(user=world.bob, task_id=task.pk)  # record kept
    with pytest.raises(ValidationError, match="closed"):
        services.task_update(actor=world.bob, task_id=task.pk, title="Changed")
    with pytest.raises(ValidationError, match="closed"):
        services.task_create(actor=world.bob, matter_id=world.matter.pk, title="New")
    with pytest.raises(ValidationError, match="closed"):
        services.comment_create(actor=world.bob, task_id=task.pk, body="Late note")
    assert Task.objects.get(pk=task.pk).title == "Filed away"

    services.matter_reopen(actor=world.alice, matter_id=world.matter.pk)
    services.task_update(actor=world.bob, task_id=task.pk, title="Changed")
    assert events_of(world.matter)[-2:] == [names.MATTER_CLOSED, names.MATTER_REOPENED]


def test_role_changes_are_recorded_with_before_and_after(world):
    member = MatterMember.objects.get(matter=world.walled, user=world.bob)

    services.team_member_set_role(
        actor=world.alice,
        matter_id=world.walled.pk,
        member_id=member.pk,
        role=MatterMember.Role.REVIEWER,
    )

    changed = (
        OutboxEvent.objects.filter(name=names.MATTER_MEMBER_ROLE_CHANGED).last().payload
    )
    assert changed["changes"]["role"] == ["ASSOCIATE", "REVIEWER"]
    assert changed["changes"]["user"][1]["id"] == world.bob.pk


def test_the_matter_pages_run_the_matter_and_refuse_the_rest(world):
    admin, partner, associate = (
        client_for(world.dora),
        client_for(world.alice),
        client_for(world.bob),
    )

    page = admin.get(f"/matters/{world.walled.pk}/settings/").content.decode()
    assert world.walled.number in page and world.walled.client_name in page
    assert world.walled.name not in page  # a firm admin outside sees no more
    assert partner.get(f"/matters/{world.walled.pk}/settings/").status_code == 200
    assert associate.get(f"/matters/{world.walled.pk}/settings/").status_code == 403
    assert client_for(world.walt).get(
        f"/matters/{world.walled.pk}/settings/"
    ).status_code in (403, 404)
    assert associate.get("/matters/new/").status_code == 403

    response = partner.post(
        "/matters/new/",
        {"number": "HV-200", "name": "Made here", "client_name": "Client"},
    )
    assert response.status_code == 302
    made = Matter.objects.get(number="HV-200")
    bad = partner.post(
        "/matters/new/", {"number": "HV-200", "name": "Twice", "client_name": "C"}
    )
    assert bad.status_code == 400
    assert "already exists" in bad.content.decode()

    added = partner.post(
        f"/matters/{made.pk}/team/", {"user": world.oscar.pk, "role": "ASSOCIATE"}
    )
    assert added.status_code == 400  # not offered, not accepted
    assert not made.team.filter(user=world.oscar).exists()
