"""Review: a junior does the work, a senior reviews it.

The reviewer is one of the matter's team; moving the task to In review asks
for their review; they approve it (Done) or return it with a comment (In
progress). Each step is checked by what people see: the task's state, the
events recorded (which history and notifications are made of), the pages.
"""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client

from events_app import names
from events_app.history.sentences import sentence_text as sentence
from tasks_app import services
from tasks_app.models import Comment, MatterMember, Task
from tests.events_app.bus_helpers import events_since, outbox_mark
from tests.fixtures.factories import World, make_task

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(world: World) -> World:
    """Alice (responsible partner) and Bob (associate) on the open matter."""
    MatterMember.objects.create(
        matter=world.matter, user=world.alice, role="RESPONSIBLE_PARTNER"
    )
    MatterMember.objects.create(matter=world.matter, user=world.bob, role="ASSOCIATE")
    return world


@pytest.fixture
def draft(team: World) -> Task:
    """Bob's task, Alice to review it."""
    return make_task(
        team.matter,
        "Draft the letter before claim",
        actor=team.bob,
        assignee=team.bob,
        reviewer=team.alice,
    )


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def names_since(mark: int) -> list[str]:
    return [e["name"] for e in events_since(mark)]


# --- asking for review -----------------------------------------------------------


def test_moving_to_in_review_asks_the_reviewer(team: World, draft: Task) -> None:
    mark = outbox_mark()

    services.task_update(actor=team.bob, task_id=draft.pk, status="IN_REVIEW")

    [asked] = events_since(mark, names.TASK_REVIEW_REQUESTED)
    assert asked["actor"]["id"] == team.bob.pk
    assert asked["subject"] == {
        "type": "task",
        "id": draft.pk,
        "label": "Draft the letter before claim",
    }
    assert sentence(asked) == (
        "Bob Stone asked Alice Hartley to review “Draft the letter before claim”"
    )


def test_naming_a_reviewer_for_a_task_already_in_review_asks_them(
    team: World, draft: Task
) -> None:
    services.task_update(actor=team.bob, task_id=draft.pk, reviewer=None)
    services.task_update(actor=team.bob, task_id=draft.pk, status="IN_REVIEW")
    mark = outbox_mark()

    services.task_update(actor=team.bob, task_id=draft.pk, reviewer=team.alice)

    assert names.TASK_REVIEW_REQUESTED in names_since(mark)


def test_in_review_without_a_reviewer_asks_nobody(team: World) -> None:
    task = make_task(team.matter, "Bundle", actor=team.bob, assignee=team.bob)
    mark = outbox_mark()

    services.task_update(actor=team.bob, task_id=task.pk, status="IN_REVIEW")

    assert names.TASK_REVIEW_REQUESTED not in names_since(mark)


@pytest.mark.parametrize("who", ["carol", "walt", "oscar"])
def test_the_reviewer_must_be_on_the_matters_team(team: World, who: str) -> None:
    """Carol and Walt are of the firm but not on the team; Oscar is another firm's."""
    task = make_task(team.matter, "Bundle", actor=team.bob)
    outsider = getattr(team, who)

    with pytest.raises(ValidationError) as raised:
        services.task_update(actor=team.bob, task_id=task.pk, reviewer=outsider)

    assert "team" in str(raised.value)
    task.refresh_from_db()
    assert task.reviewer_id is None


def test_someone_walled_off_cannot_review(team: World) -> None:
    task = make_task(team.walled, "Data room", actor=team.alice)

    with pytest.raises(ValidationError):
        services.task_update(actor=team.alice, task_id=task.pk, reviewer=team.walt)


# --- approving --------------------------------------------------------------------


def test_the_reviewer_approves_and_the_task_is_done(team: World, draft: Task) -> None:
    services.task_update(actor=team.bob, task_id=draft.pk, status="IN_REVIEW")
    mark = outbox_mark()

    services.task_approve(actor=team.alice, task_id=draft.pk)

    draft.refresh_from_db()
    assert draft.status == Task.Status.DONE
    events = events_since(mark)
    assert [e["name"] for e in events] == [names.TASK_APPROVED, names.TASK_COMPLETED]
    approved, completed = events
    assert approved["actor"]["id"] == completed["actor"]["id"] == team.alice.pk
    # The completion names the approval as its cause.
    assert completed["context"]["caused_by"] == approved["id"]
    assert completed["context"]["reason"] == names.APPROVAL_REASON
    assert sentence(approved) == (
        "Alice Hartley approved “Draft the letter before claim”"
    )


def test_only_the_reviewer_may_approve(team: World, draft: Task) -> None:
    services.task_update(actor=team.bob, task_id=draft.pk, status="IN_REVIEW")
    mark = outbox_mark()

    with pytest.raises(PermissionDenied):
        services.task_approve(actor=team.bob, task_id=draft.pk)

    draft.refresh_from_db()
    assert draft.status == Task.Status.IN_REVIEW
    assert names_since(mark) == []


def test_a_task_not_in_review_cannot_be_approved(team: World, draft: Task) -> None:
    mark = outbox_mark()

    with pytest.raises(ValidationError, match="not waiting for review"):
        services.task_approve(actor=team.alice, task_id=draft.pk)

    assert names_since(mark) == []


# --- returning with changes -------------------------------------------------------


def test_returning_needs_a_comment_and_sends_the_task_back(
    team: World, draft: Task
) -> None:
    services.task_update(actor=team.bob, task_id=draft.pk, status="IN_REVIEW")
    mark = outbox_mark()

    services.task_request_changes(
        actor=team.alice,
        task_id=draft.pk,
        comment="Cite the pre-action protocol, para 3.",
    )

    draft.refresh_from_db()
    assert draft.status == Task.Status.IN_PROGRESS
    [comment] = Comment.objects.filter(task=draft)
    assert comment.author == team.alice
    assert comment.body == "Cite the pre-action protocol, para 3."
    events = events_since(mark)
    assert [e["name"] for e in events] == [
        names.TASK_CHANGES_REQUESTED,
        names.COMMENT_ADDED,
        names.TASK_STATUS_CHANGED,  # In review -> In progress
    ]
    returned = events[0]
    assert all(e["context"]["caused_by"] == returned["id"] for e in events[1:])
    assert sentence(returned) == (
        "Alice Hartley returned “Draft the letter before claim” for changes: "
        "Cite the pre-action protocol, para 3."
    )


@pytest.mark.parametrize("comment", ["", "   \n "])
def test_returning_without_saying_what_to_change_is_refused(
    team: World, draft: Task, comment: str
) -> None:
    services.task_update(actor=team.bob, task_id=draft.pk, status="IN_REVIEW")
    mark = outbox_mark()

    with pytest.raises(ValidationError, match="Say what needs to change"):
        services.task_request_changes(
            actor=team.alice, task_id=draft.pk, comment=comment
        )

    draft.refresh_from_db()
    assert draft.status == Task.Status.IN_REVIEW
    assert names_since(mark) == []


# --- hand-over of reviews -----------------------------------------------------------


def test_a_reviewer_leaving_the_team_passes_the_review_to_the_partner(
    team: World,
) -> None:
    carol = team.carol
    MatterMember.objects.create(matter=team.matter, user=carol, role="REVIEWER")
    task = make_task(
        team.matter, "Witness statement", actor=team.bob, assignee=team.bob
    )
    services.task_update(actor=team.bob, task_id=task.pk, reviewer=carol)
    services.task_update(actor=team.bob, task_id=task.pk, status="IN_REVIEW")
    member = MatterMember.objects.get(matter=team.matter, user=carol)
    mark = outbox_mark()

    services.team_member_remove(
        actor=team.alice, matter_id=team.matter.pk, member_id=member.pk
    )

    task.refresh_from_db()
    assert task.reviewer == team.alice
    asked = events_since(mark, names.TASK_REVIEW_REQUESTED)
    assert [e["subject"]["id"] for e in asked] == [task.pk]
    assert asked[0]["context"]["reason"].endswith("Carol King left the team of HV-001")


def test_a_partner_leaving_the_firm_leaves_their_reviews_with_nobody(
    team: World, draft: Task
) -> None:
    """The leaver is the responsible partner: nobody else is named for them."""
    services.person_deactivate(actor=team.dora, user_id=team.alice.pk)

    draft.refresh_from_db()
    assert draft.reviewer is None


# --- pages ----------------------------------------------------------------------------


def test_the_reviewer_approves_from_the_task_page(team: World, draft: Task) -> None:
    services.task_update(actor=team.bob, task_id=draft.pk, status="IN_REVIEW")
    alice = client_for(team.alice)

    page = alice.get(f"/tasks/{draft.pk}/").content.decode()
    response = alice.post(f"/tasks/{draft.pk}/approve/", follow=True)

    assert "Approve: mark Done" in page and "Return: back to In progress" in page
    assert response.status_code == 200
    assert "Approved “Draft the letter before claim”: it is Done." in (
        response.content.decode()
    )
    draft.refresh_from_db()
    assert draft.status == Task.Status.DONE


def test_the_assignee_sees_no_review_buttons_and_may_not_approve(
    team: World, draft: Task
) -> None:
    services.task_update(actor=team.bob, task_id=draft.pk, status="IN_REVIEW")
    bob = client_for(team.bob)

    page = bob.get(f"/tasks/{draft.pk}/").content.decode()
    response = bob.post(f"/tasks/{draft.pk}/approve/")

    assert "Return: back to In progress" not in page
    assert "Waiting for review by Alice Hartley" in page
    assert response.status_code == 403
    assert "Only the task&#x27;s reviewer can do that." in response.content.decode()
    draft.refresh_from_db()
    assert draft.status == Task.Status.IN_REVIEW


def test_returning_without_a_comment_on_the_page_is_a_form_error(
    team: World, draft: Task
) -> None:
    services.task_update(actor=team.bob, task_id=draft.pk, status="IN_REVIEW")

    response = client_for(team.alice).post(
        f"/tasks/{draft.pk}/return/", {"comment": ""}
    )

    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    draft.refresh_from_db()
    assert draft.status == Task.Status.IN_REVIEW


def test_approving_something_not_in_review_is_a_400_with_a_message(
    team: World, draft: Task
) -> None:
    response = client_for(team.alice).post(f"/tasks/{draft.pk}/approve/")

    assert response.status_code == 400
    assert "This task is not waiting for review." in response.content.decode()


def test_review_actions_on_a_walled_or_foreign_task_are_404(team: World) -> None:
    walled = make_task(team.walled, "Data room", actor=team.alice)
    foreign = make_task(team.other_matter, "Theirs", actor=team.oscar)

    walt = client_for(team.walt)
    oscar_side = client_for(team.alice)

    assert walt.post(f"/tasks/{walled.pk}/approve/").status_code == 404
    assert walt.post(f"/tasks/{walled.pk}/return/", {"comment": "x"}).status_code == 404
    assert oscar_side.post(f"/tasks/{foreign.pk}/approve/").status_code == 404


def test_approving_is_a_post(team: World, draft: Task) -> None:
    assert client_for(team.alice).get(f"/tasks/{draft.pk}/approve/").status_code == 405


def test_the_edit_form_offers_only_the_team_and_refuses_anyone_else(
    team: World, draft: Task
) -> None:
    bob = client_for(team.bob)

    page = bob.get(f"/tasks/{draft.pk}/").content.decode()
    response = bob.post(
        f"/tasks/{draft.pk}/",
        {
            "title": draft.title,
            "description": "",
            "status": draft.status,
            "priority": draft.priority,
            "assignee": team.bob.pk,
            "reviewer": team.walt.pk,
            "due_date": "",
            "milestone": "",
        },
    )

    reviewer_select = page.split('name="reviewer"', 1)[1].split("</select>", 1)[0]
    assert "Alice Hartley" in reviewer_select
    assert "Walt Outside" not in reviewer_select
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    draft.refresh_from_db()
    assert draft.reviewer == team.alice


def test_waiting_for_my_review_on_home_and_its_own_page(
    team: World, draft: Task
) -> None:
    other = make_task(
        team.matter, "Schedule of loss", actor=team.bob, assignee=team.bob
    )
    services.task_update(actor=team.bob, task_id=draft.pk, status="IN_REVIEW")
    alice = client_for(team.alice)

    home = alice.get("/").content.decode()
    reviews = alice.get("/reviews/").content.decode()

    for page in (home, reviews):
        assert "Draft the letter before claim" in page
        assert other.title not in page
    assert (
        "Nothing waits for your review."
        in client_for(team.bob).get("/reviews/").content.decode()
    )


def test_the_board_card_shows_the_reviewer(team: World, draft: Task) -> None:
    html = client_for(team.bob).get(f"/matters/{team.matter.pk}/").content.decode()

    card = html.split(f'id="task-{draft.pk}"', 1)[1].split("</article>", 1)[0]
    assert 'title="Reviewer: Alice Hartley">Review: AH</span>' in card
