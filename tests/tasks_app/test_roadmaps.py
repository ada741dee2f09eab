"""Roadmaps: a firm's plans of milestones and tasks, applied to matters.

Kept by partners and firm admins, by hand or by saving a matter as one;
applied in one transaction through the same services people use, each
created row recording its own event, plus one `roadmap.applied`. Applying
twice asks first; a failure leaves nothing half-created.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from events_app import names
from events_app.models import OutboxEvent
from tasks_app import services
from tasks_app.models import (
    MatterMember,
    Milestone,
    Roadmap,
    RoadmapApplication,
    RoadmapMilestone,
    RoadmapTask,
    Task,
)
from tasks_app.services import roadmaps as roadmap_services
from tests.events_app.bus_helpers import events_since, outbox_mark
from tests.fixtures.factories import World, make_task

pytestmark = pytest.mark.django_db

D = dt.date


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def team(world: World) -> World:
    MatterMember.objects.create(
        matter=world.matter, user=world.alice, role="RESPONSIBLE_PARTNER"
    )
    MatterMember.objects.create(matter=world.matter, user=world.bob, role="ASSOCIATE")
    MatterMember.objects.create(matter=world.matter, user=world.carol, role="PARALEGAL")
    return world


@pytest.fixture
def claim(team: World) -> Roadmap:
    """A small civil claim plan: two milestones, three tasks."""
    alice = team.alice
    roadmap = services.roadmap_create(actor=alice, name="Civil claim")
    protocol = services.roadmap_milestone_add(
        actor=alice, roadmap_id=roadmap.pk, name="Pre-action", due_offset_days=14
    )
    services.roadmap_milestone_add(
        actor=alice, roadmap_id=roadmap.pk, name="Issue", due_offset_days=60
    )
    services.roadmap_task_add(
        actor=alice,
        roadmap_id=roadmap.pk,
        title="Letter before claim",
        milestone=protocol,
        default_role="ASSOCIATE",
        priority="HIGH",
        due_offset_days=-4,
        due_from="MILESTONE",
    )
    services.roadmap_task_add(
        actor=alice,
        roadmap_id=roadmap.pk,
        title="Open the file",
        default_role="PARALEGAL",
        due_offset_days=1,
    )
    services.roadmap_task_add(
        actor=alice,
        roadmap_id=roadmap.pk,
        title="Conflict check",
        default_person=team.dora,
        default_role="RESPONSIBLE_PARTNER",
    )
    return roadmap


# --- applying -----------------------------------------------------------------------


def test_applying_creates_the_plan_each_row_with_its_own_event(
    team: World, claim: Roadmap
) -> None:
    mark = outbox_mark()

    services.roadmap_apply(
        actor=team.alice,
        roadmap_id=claim.pk,
        matter_id=team.matter.pk,
        today=D(2026, 6, 1),
    )

    milestones = {
        m.name: m.due_date for m in Milestone.objects.filter(matter=team.matter)
    }
    assert milestones == {
        "Disclosure": None,  # the matter's own, from before
        "Pre-action": D(2026, 6, 15),
        "Issue": D(2026, 7, 31),
    }
    tasks = {
        t.title: (t.assignee.username if t.assignee else None, t.due_date, t.priority)
        for t in Task.objects.filter(matter=team.matter)
    }
    assert tasks == {
        # 4 days before its milestone's date
        "Letter before claim": ("bob", D(2026, 6, 11), "HIGH"),
        "Open the file": ("carol", D(2026, 6, 2), "NORMAL"),
        # Dora is named, and may see this matter: she wins over the role.
        "Conflict check": ("dora", None, "NORMAL"),
    }
    assert Task.objects.get(title="Letter before claim").milestone.name == "Pre-action"
    events = events_since(mark)
    counted = [e["name"] for e in events]
    assert counted.count(names.MILESTONE_CREATED) == 2
    assert counted.count(names.TASK_CREATED) == 3
    [applied] = [e for e in events if e["name"] == names.ROADMAP_APPLIED]
    assert applied["matter"]["id"] == team.matter.pk
    assert applied["changes"] == {
        "roadmap": [None, "Civil claim"],
        "milestones": [None, 2],
        "tasks": [None, 3],
    }
    assert len({e["context"]["request_id"] for e in events}) == 1


def test_a_named_person_outside_a_wall_gives_way_to_the_role(
    team: World, claim: Roadmap
) -> None:
    """On the walled matter Dora is outside: the task goes to its partner."""
    MatterMember.objects.filter(matter=team.walled, user=team.alice).update(
        role="RESPONSIBLE_PARTNER"
    )

    services.roadmap_apply(
        actor=team.alice, roadmap_id=claim.pk, matter_id=team.walled.pk
    )

    conflict = Task.objects.get(matter=team.walled, title="Conflict check")
    assert conflict.assignee == team.alice
    # No paralegal on that team: the task waits for someone.
    assert Task.objects.get(matter=team.walled, title="Open the file").assignee is None


def test_a_failure_half_way_leaves_nothing(
    team: World, claim: Roadmap, monkeypatch
) -> None:
    real = roadmap_services.task_create
    calls = []

    def failing(**kwargs):
        calls.append(kwargs["title"])
        if len(calls) == 3:
            raise ValidationError("The database said no.")
        return real(**kwargs)

    monkeypatch.setattr(roadmap_services, "task_create", failing)
    before = (
        Task.objects.count(),
        Milestone.objects.count(),
        OutboxEvent.objects.count(),
    )

    with pytest.raises(ValidationError):
        services.roadmap_apply(
            actor=team.alice, roadmap_id=claim.pk, matter_id=team.matter.pk
        )

    assert len(calls) == 3
    assert (
        Task.objects.count(),
        Milestone.objects.count(),
        OutboxEvent.objects.count(),
    ) == before
    assert not RoadmapApplication.objects.exists()


def test_applying_twice_asks_first(team: World, claim: Roadmap) -> None:
    services.roadmap_apply(
        actor=team.alice, roadmap_id=claim.pk, matter_id=team.matter.pk
    )
    count = Task.objects.count()

    with pytest.raises(ValidationError, match="already applied to HV-001"):
        services.roadmap_apply(
            actor=team.alice, roadmap_id=claim.pk, matter_id=team.matter.pk
        )
    assert Task.objects.count() == count

    services.roadmap_apply(
        actor=team.alice, roadmap_id=claim.pk, matter_id=team.matter.pk, again=True
    )
    assert Task.objects.count() == count + 3


def test_the_page_asks_before_applying_again_and_applies_once_confirmed(
    team: World, claim: Roadmap
) -> None:
    alice = client_for(team.alice)
    url = f"/roadmaps/{claim.pk}/apply/"
    first = alice.post(url, {"matter": team.matter.pk})
    count = Task.objects.count()

    asked = alice.post(url, {"matter": team.matter.pk})
    html = asked.content.decode()
    confirmed = alice.post(url, {"matter": team.matter.pk, "again": "1"})

    assert first.status_code == 302 and first["Location"] == (
        f"/matters/{team.matter.pk}/"
    )
    assert asked.status_code == 409
    assert "was already applied to HV-001" in html
    assert 'name="again" value="1"' in html
    assert confirmed.status_code == 302
    assert Task.objects.count() == count + 3


def test_applying_to_a_closed_matter_is_refused(team: World, claim: Roadmap) -> None:
    team.matter.closed_at = timezone.now()
    team.matter.save(update_fields=["closed_at"])

    with pytest.raises(ValidationError):
        services.roadmap_apply(
            actor=team.alice, roadmap_id=claim.pk, matter_id=team.matter.pk
        )
    assert not Task.objects.filter(matter=team.matter).exists()


# --- keeping roadmaps, and who may ---------------------------------------------------


def test_a_partner_builds_one_on_the_pages(team: World) -> None:
    alice = client_for(team.alice)

    made = alice.post("/roadmaps/", {"name": "Employment tribunal claim"})
    roadmap = Roadmap.objects.get(name="Employment tribunal claim")
    alice.post(
        f"/roadmaps/{roadmap.pk}/milestones/",
        {"name": "ET1 lodged", "due_offset_days": "7"},
    )
    step = roadmap.milestones.get()
    alice.post(
        f"/roadmaps/{roadmap.pk}/tasks/",
        {
            "title": "Early conciliation certificate",
            "milestone": step.pk,
            "default_role": "ASSOCIATE",
            "priority": "URGENT",
            "due_offset_days": "-2",
            "due_from": "MILESTONE",
        },
    )
    page = alice.get(f"/roadmaps/{roadmap.pk}/").content.decode()

    assert made.status_code == 302
    [item] = roadmap.tasks.all()
    assert (item.milestone, item.default_role, item.priority, item.due_offset_days) == (
        step,
        "ASSOCIATE",
        "URGENT",
        -2,
    )
    assert "Early conciliation certificate" in page and "ET1 lodged" in page


@pytest.mark.parametrize(
    "data, message",
    [
        ({"due_offset_days": "soon"}, "Enter a whole number."),
        ({"due_offset_days": "99999"}, "less than or equal to 3650"),
        ({"default_role": "WIZARD"}, "Select a valid choice."),
        ({"priority": "WHENEVER"}, "Select a valid choice."),
        ({"due_from": "MILESTONE"}, "Choose a milestone to count from."),
        ({"title": "   "}, "This field is required."),
    ],
)
def test_bad_roadmap_tasks_are_form_errors(
    team: World, claim: Roadmap, data: dict, message: str
) -> None:
    before = claim.tasks.count()
    post = {"title": "A task", "priority": "NORMAL", "due_from": "APPLIED", **data}

    response = client_for(team.alice).post(f"/roadmaps/{claim.pk}/tasks/", post)

    assert response.status_code == 400
    assert message in response.content.decode()
    assert claim.tasks.count() == before


def test_a_default_person_of_another_firm_is_refused(
    team: World, claim: Roadmap
) -> None:
    response = client_for(team.alice).post(
        f"/roadmaps/{claim.pk}/tasks/",
        {
            "title": "Ask Oscar",
            "priority": "NORMAL",
            "due_from": "APPLIED",
            "default_person": team.oscar.pk,
        },
    )

    assert response.status_code == 400
    assert "Select a valid choice." in response.content.decode()
    assert not RoadmapTask.objects.filter(title="Ask Oscar").exists()


def test_a_milestone_of_another_roadmap_is_refused(team: World, claim: Roadmap) -> None:
    other = services.roadmap_create(actor=team.alice, name="Other plan")
    foreign = RoadmapMilestone.objects.filter(roadmap=claim).first()

    response = client_for(team.alice).post(
        f"/roadmaps/{other.pk}/tasks/",
        {
            "title": "Crossed",
            "priority": "NORMAL",
            "due_from": "APPLIED",
            "milestone": foreign.pk,
        },
    )

    assert response.status_code == 400
    assert not other.tasks.exists()


def test_a_second_roadmap_of_the_same_name_is_a_form_error(
    team: World, claim: Roadmap
) -> None:
    response = client_for(team.alice).post("/roadmaps/", {"name": "Civil claim"})

    assert response.status_code == 400
    assert "already exists" in response.content.decode()
    assert Roadmap.objects.filter(name="Civil claim").count() == 1


def test_associates_may_not_keep_roadmaps_and_other_firms_do_not_see_them(
    team: World, claim: Roadmap
) -> None:
    bob = client_for(team.bob)
    assert bob.get("/roadmaps/").status_code == 403
    assert bob.post(f"/roadmaps/{claim.pk}/apply/", {"matter": 1}).status_code == 403
    oscar = client_for(team.oscar)
    assert oscar.get(f"/roadmaps/{claim.pk}/").status_code == 404
    assert oscar.post(f"/roadmaps/{claim.pk}/delete/").status_code == 404
    assert Roadmap.objects.filter(pk=claim.pk).exists()


def test_a_matter_one_cannot_see_is_not_a_choice(team: World, claim: Roadmap) -> None:
    """Dora (firm admin) is outside the walled matter; Oscar's is another firm's."""
    dora = client_for(team.dora)
    for matter in (team.walled, team.other_matter):
        response = dora.post(f"/roadmaps/{claim.pk}/apply/", {"matter": matter.pk})
        assert response.status_code == 400
        assert "Select a valid choice." in response.content.decode()
    assert not Task.objects.filter(matter=team.walled).exists()


# --- saving a matter as a roadmap ---------------------------------------------------


def test_a_matter_saved_as_a_roadmap_keeps_its_shape(team: World) -> None:
    today = D(2026, 6, 1)
    milestone = team.milestone
    milestone.due_date = D(2026, 6, 20)
    milestone.save(update_fields=["due_date"])
    make_task(
        team.matter,
        "Draft list of documents",
        actor=team.alice,
        assignee=team.bob,
        milestone=milestone,
        due_date=D(2026, 6, 17),
        priority="HIGH",
    )
    make_task(team.matter, "Chase the client", actor=team.alice, due_date=D(2026, 6, 3))

    roadmap = services.roadmap_from_matter(
        actor=team.alice, matter_id=team.matter.pk, name="Disclosure", today=today
    )

    [step] = roadmap.milestones.all()
    assert (step.name, step.due_offset_days) == ("Disclosure", 19)
    shape = {
        t.title: (t.milestone_id, t.due_from, t.due_offset_days, t.default_role)
        for t in roadmap.tasks.all()
    }
    assert shape == {
        "Draft list of documents": (step.pk, "MILESTONE", -3, "ASSOCIATE"),
        "Chase the client": (None, "APPLIED", 2, ""),
    }


def test_saving_a_walled_matter_needs_to_be_inside(team: World) -> None:
    response = client_for(team.dora).post(
        f"/matters/{team.walled.pk}/save-as-roadmap/", {"name": "Peek"}
    )

    assert response.status_code == 404
    assert not Roadmap.objects.filter(name="Peek").exists()
