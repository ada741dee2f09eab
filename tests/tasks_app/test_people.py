"""People of a firm: added with a password-set email, roles, leaving and hand-overs."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client

from events_app import names
from events_app.history import sentences
from events_app.models import Notification, OutboxEvent
from tasks_app import services
from tasks_app.models import Matter, MatterMember, Membership, Task, User
from tests.events_app.bus_helpers import deliver_since, events_since, outbox_mark
from tests.fixtures.factories import make_matter, make_task

ROLE = MatterMember.Role


def test_a_firm_admin_adds_someone_who_sets_their_own_password(
    world, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        person = services.person_add(
            actor=world.dora,
            username="nadia",
            email="nadia@hartley.example",
            first_name="Nadia",
            last_name="New",
            role=Membership.Role.ASSOCIATE,
        )

    assert not person.has_usable_password()
    assert person.membership.firm == world.firm
    (email,) = mail.outbox
    assert email.to == ["nadia@hartley.example"]
    assert "Dora Admin added you to Hartley & Vale" in email.subject
    link = re.search(r"https?://[^/\s]+(/password/set/\S+)", email.body).group(1)
    client = Client()
    form = client.get(link, follow=True)
    assert form.status_code == 200 and "Choose your password" in form.content.decode()
    done = client.post(
        form.redirect_chain[-1][0],
        {
            "new_password1": "a-long-fresh-pass-77",
            "new_password2": "a-long-fresh-pass-77",
        },
    )
    assert done.status_code == 302
    assert Client().login(username="nadia", password="a-long-fresh-pass-77")
    (added,) = [
        e.payload
        for e in OutboxEvent.objects.filter(name=names.USER_ADDED)
        if e.payload["subject"]["id"] == person.pk
    ]
    assert added["subject"]["label"] == "Nadia New"
    assert added["actor"]["id"] == world.dora.pk


def test_only_firm_admins_manage_people(world):
    with pytest.raises(PermissionDenied):
        services.person_add(
            actor=world.alice,
            username="x",
            email="x@example.test",
            first_name="X",
            last_name="Y",
            role="ASSOCIATE",
        )
    assert Client().get("/people/").status_code == 302
    client = Client()
    client.force_login(world.alice)
    assert client.get("/people/").status_code == 403
    client.force_login(world.dora)
    assert client.get(f"/people/{world.oscar.pk}/").status_code == 404


def test_bad_people_input_is_a_form_error(world):
    client = Client()
    client.force_login(world.dora)
    response = client.post(
        "/people/new/",
        {
            "first_name": "A",
            "last_name": "B",
            "email": world.bob.email,
            "username": "bob",
            "role": "ASSOCIATE",
        },
    )
    assert response.status_code == 400
    assert "already" in response.content.decode()
    assert User.objects.filter(username="bob").count() == 1


def test_role_changes_are_recorded_and_a_firm_keeps_an_admin(world):
    services.person_set_role(
        actor=world.dora, user_id=world.bob.pk, role=Membership.Role.PARTNER
    )
    changed = OutboxEvent.objects.get(name=names.USER_ROLE_CHANGED).payload
    assert changed["changes"]["role"] == ["ASSOCIATE", "PARTNER"]
    assert changed["subject"] == {
        "type": "user",
        "id": world.bob.pk,
        "label": "Bob Stone",
    }
    with pytest.raises(ValidationError, match="at least one active firm admin"):
        services.person_set_role(
            actor=world.dora, user_id=world.dora.pk, role=Membership.Role.PARTNER
        )
    with pytest.raises(ValidationError):
        services.person_deactivate(actor=world.dora, user_id=world.dora.pk)


@pytest.fixture
def leaving(world):
    """Bob's 40 open tasks over three matters, and three done ones.

    On the open matter another associate (walt) takes them, on the walled
    matter nobody shares his role so its responsible partner (alice) does,
    and on the third nobody is proposed: the admin chooses carol.
    """
    for user, role in ((world.bob, ROLE.ASSOCIATE), (world.walt, ROLE.ASSOCIATE)):
        MatterMember.objects.create(matter=world.matter, user=user, role=role)
    third = make_matter(world.firm, "HV-003")
    MatterMember.objects.create(matter=third, user=world.bob, role=ROLE.ASSOCIATE)
    tasks: dict[Matter, list[Task]] = {world.matter: [], world.walled: [], third: []}
    for i in range(40):
        matter = list(tasks)[i % 3]
        status = ("TODO", "IN_PROGRESS", "IN_REVIEW")[i % 3]
        tasks[matter].append(
            make_task(
                matter,
                f"Open {i}",
                actor=world.alice,
                assignee=world.bob,
                status=status,
            )
        )
    done = [
        make_task(
            m, f"Done {m.pk}", actor=world.alice, assignee=world.bob, status="DONE"
        )
        for m in tasks
    ]
    return third, tasks, done


def test_deactivating_hands_every_open_task_on_in_one_go(world, leaving):
    third, tasks, done = leaving
    plan = {line.matter: line for line in services.handover_plan(person=world.bob)}
    assert {m: line.proposed for m, line in plan.items()} == {
        world.matter: world.walt,
        world.walled: world.alice,
        third: None,
    }
    assert sum(line.count for line in plan.values()) == 40
    with pytest.raises(ValidationError, match="Choose who takes over"):
        services.person_deactivate(actor=world.dora, user_id=world.bob.pk)
    assert User.objects.get(pk=world.bob.pk).is_active  # nothing half-done
    mark = outbox_mark()

    handed = services.person_deactivate(
        actor=world.dora, user_id=world.bob.pk, choices={third.pk: world.carol}
    )

    assert handed == {world.walt.pk: 14, world.alice.pk: 13, world.carol.pk: 13}
    for matter, expected in (
        (world.matter, world.walt),
        (world.walled, world.alice),
        (third, world.carol),
    ):
        assignees = {
            t.assignee
            for t in Task.objects.filter(pk__in=[x.pk for x in tasks[matter]])
        }
        assert assignees == {expected}
    assert {t.assignee for t in Task.objects.filter(pk__in=[d.pk for d in done])} == {
        world.bob
    }
    assert not User.objects.get(pk=world.bob.pk).is_active

    summary = events_since(mark, names.USER_TASKS_HANDED_OVER)
    assigned = events_since(mark, names.TASK_ASSIGNED)
    assert len(summary) == 1 and len(assigned) == 40
    for event in assigned:
        assert event["context"]["reason"] == "handover: Bob Stone left the firm"
        assert event["context"]["caused_by"] == summary[0]["id"]
        assert event["actor"]["id"] == world.dora.pk
    sentence = sentences.sentence_text(assigned[0])
    assert sentence.endswith("(handover: Bob Stone left the firm)")
    assert "Dora Admin reassigned" in sentence
    assert events_since(mark, names.USER_DEACTIVATED)

    before = Notification.objects.count()
    deliver_since(mark)
    received = Notification.objects.order_by("id")[before:]
    by_person = {n.recipient: n for n in received}
    assert len(received) == 3  # one each, not one per task
    assert set(by_person) == {world.walt, world.alice, world.carol}
    assert by_person[world.walt].summary == (
        "Dora Admin handed you 14 open tasks of Bob Stone (Bob Stone left the firm)"
    )
    assert "Brightwater" not in by_person[world.walt].summary


def test_the_preview_screen_hands_on_as_chosen(world, leaving):
    third, tasks, _ = leaving
    client = Client()
    client.force_login(world.dora)

    preview = client.get(f"/people/{world.bob.pk}/deactivate/").content.decode()
    assert "HV-003" in preview and "Nobody: choose" in preview
    assert world.walled.name not in preview  # dora is outside that wall
    missing = client.post(f"/people/{world.bob.pk}/deactivate/", {})
    assert missing.status_code == 400
    done = client.post(
        f"/people/{world.bob.pk}/deactivate/",
        {f"m{third.pk}-successor": world.carol.pk},
    )

    assert done.status_code == 302
    assert not User.objects.get(pk=world.bob.pk).is_active
    assert {
        t.assignee for t in Task.objects.filter(pk__in=[x.pk for x in tasks[third]])
    } == {world.carol}


def test_taking_someone_off_a_team_hands_their_work_on_there_only(world, leaving):
    third, _, _ = leaving
    member = MatterMember.objects.get(matter=world.walled, user=world.bob)

    handed = services.team_member_remove(
        actor=world.alice, matter_id=world.walled.pk, member_id=member.pk
    )

    assert handed == {world.alice.pk: 13}
    assert not world.walled.team.filter(user=world.bob).exists()
    still_bobs = Task.objects.filter(assignee=world.bob).exclude(status="DONE")
    assert {t.matter for t in still_bobs} == {world.matter, third}
    removed = OutboxEvent.objects.filter(name=names.MATTER_MEMBER_REMOVED).last()
    assert removed.payload["changes"]["user"][0]["id"] == world.bob.pk
