"""Selectors: each role sees its firm's open matters and the walls it is inside."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import Http404

from tasks_app import selectors, services
from tasks_app.models import Membership, Milestone, Task
from tests.fixtures.factories import make_firm, make_matter, make_task, make_user

pytestmark = pytest.mark.django_db

INSIDE_THE_WALL = ["alice", "bob"]
OUTSIDE_THE_WALL = ["carol", "dora", "walt"]


@pytest.fixture
def loner(db):
    return make_user(None, "loner")


def numbers(matters) -> list[str]:
    return [m.number for m in matters]


# --- matters --------------------------------------------------------------------------


@pytest.mark.parametrize("who", INSIDE_THE_WALL)
def test_members_of_the_wall_see_the_open_and_the_walled_matter(world, who):
    matters = selectors.matter_list_for_user(user=getattr(world, who))

    assert numbers(matters) == ["HV-001", "HV-002"]


@pytest.mark.parametrize("who", OUTSIDE_THE_WALL)
def test_others_in_the_firm_see_only_the_open_matter(world, who):
    """Every role, the firm admin included: a wall is not a seniority check."""
    user = getattr(world, who)

    assert numbers(selectors.matter_list_for_user(user=user)) == ["HV-001"]
    assert not selectors.user_can_see_matter(user=user, matter=world.walled)
    with pytest.raises(Http404):
        selectors.matter_get_for_user(user=user, matter_id=world.walled.pk)


def test_another_firm_sees_only_its_own_matters(world):
    assert numbers(selectors.matter_list_for_user(user=world.oscar)) == ["OT-001"]
    for matter in (world.matter, world.walled):
        assert not selectors.user_can_see_matter(user=world.oscar, matter=matter)
    assert not selectors.user_can_see_matter(
        user=world.alice, matter=world.other_matter
    )


@pytest.mark.parametrize("who", ["loner", "anonymous"])
def test_people_outside_every_firm_see_nothing(world, loner, who):
    user = loner if who == "loner" else AnonymousUser()

    assert list(selectors.matter_list_for_user(user=user)) == []
    assert list(selectors.task_queryset_for_user(user=user)) == []
    assert not selectors.user_can_see_matter(user=user, matter=world.matter)
    assert selectors.membership_for(user) is None


def test_matter_list_counts_open_tasks(world):
    make_task(world.matter, actor=world.alice)
    make_task(world.matter, status=Task.Status.IN_REVIEW, actor=world.alice)
    make_task(world.matter, status=Task.Status.DONE, actor=world.alice)

    counts = {
        m.number: m.open_tasks for m in selectors.matter_list_for_user(user=world.alice)
    }

    assert counts == {"HV-001": 2, "HV-002": 0}


def test_joining_and_leaving_a_wall_changes_what_a_user_sees(world):
    world.walled.members.add(world.carol)
    assert selectors.user_can_see_matter(user=world.carol, matter=world.walled)

    world.walled.members.remove(world.carol)
    assert not selectors.user_can_see_matter(user=world.carol, matter=world.walled)


def test_a_wall_listing_someone_from_another_firm_does_not_let_them_in(world):
    """Bad data (a foreign user in the members list) must still not cross firms."""
    world.walled.members.add(world.oscar)

    assert not selectors.user_can_see_matter(user=world.oscar, matter=world.walled)
    assert world.oscar not in selectors.users_who_can_see_matter(matter=world.walled)


# --- single objects: hidden ones are simply not found ---------------------------------


@pytest.fixture
def objects(world):
    """A task, comment and milestone in each of the three matters."""
    made = {}
    for where, owner in (
        ("matter", world.alice),
        ("walled", world.alice),
        ("other_matter", world.oscar),
    ):
        matter = getattr(world, where)
        task = make_task(matter, actor=owner)
        made[where] = {
            "task": task,
            "comment": services.comment_create(actor=owner, task_id=task.pk, body="c"),
            "milestone": Milestone.objects.create(matter=matter, name="m"),
        }
    return made


def get(kind: str, user, obj):
    getter = {
        "task": selectors.task_get_for_user,
        "comment": selectors.comment_get_for_user,
        "milestone": selectors.milestone_get_for_user,
    }[kind]
    return getter(user=user, **{f"{kind}_id": obj.pk})


VISIBILITY = [
    ("alice", {"matter", "walled"}),
    ("bob", {"matter", "walled"}),
    ("carol", {"matter"}),
    ("dora", {"matter"}),
    ("walt", {"matter"}),
    ("oscar", {"other_matter"}),
    ("loner", set()),
]


@pytest.mark.parametrize("kind", ["task", "comment", "milestone"])
@pytest.mark.parametrize(("who", "visible"), VISIBILITY)
def test_single_object_lookups_follow_matter_visibility(
    world, loner, objects, kind, who, visible
):
    user = loner if who == "loner" else getattr(world, who)

    for where, made in objects.items():
        obj = made[kind]
        if where in visible:
            assert get(kind, user, obj) == obj
        else:
            with pytest.raises(Http404) as hidden:
                get(kind, user, obj)
            missing = type(obj)(pk=obj.pk + 10**9)
            with pytest.raises(Http404) as absent:
                get(kind, user, missing)
            assert str(hidden.value) == str(absent.value)


@pytest.mark.parametrize(("who", "visible"), VISIBILITY)
def test_task_queryset_holds_exactly_the_visible_tasks(
    world, loner, objects, who, visible
):
    user = loner if who == "loner" else getattr(world, who)

    seen = set(selectors.task_queryset_for_user(user=user))

    assert seen == {objects[where]["task"] for where in visible}


def test_deleted_comment_is_not_found_and_not_listed(world, objects):
    comment = objects["matter"]["comment"]
    services.comment_delete(actor=world.alice, comment_id=comment.pk)

    with pytest.raises(Http404):
        selectors.comment_get_for_user(user=world.alice, comment_id=comment.pk)
    assert list(selectors.task_comments(task=comment.task)) == []


# --- who may a task go to -------------------------------------------------------------


def test_everyone_active_in_the_firm_can_see_an_open_matter(world):
    people = selectors.users_who_can_see_matter(matter=world.matter)

    assert [u.username for u in people] == ["alice", "bob", "carol", "dora", "walt"]


def test_only_members_can_see_a_walled_matter(world):
    people = selectors.users_who_can_see_matter(matter=world.walled)

    assert [u.username for u in people] == INSIDE_THE_WALL


def test_deactivated_users_can_take_no_task(world):
    world.bob.is_active = False
    world.bob.save()

    assert world.bob not in selectors.users_who_can_see_matter(matter=world.matter)
    assert world.bob not in selectors.users_who_can_see_matter(matter=world.walled)
    assert world.bob not in selectors.firm_members(firm_id=world.firm.pk)


def test_users_who_can_see_a_matter_agree_with_user_can_see_matter(world, loner):
    everyone = [world.alice, world.bob, world.carol, world.dora, world.walt]
    everyone += [world.oscar, loner]
    for matter in (world.matter, world.walled, world.other_matter):
        can = set(selectors.users_who_can_see_matter(matter=matter))
        assert can == {
            u for u in everyone if selectors.user_can_see_matter(user=u, matter=matter)
        }


def test_firm_members_are_the_firms_own_people(world):
    members = selectors.firm_members(firm_id=world.other_firm.pk)

    assert list(members) == [world.oscar]


def test_membership_of_a_user(world):
    membership = selectors.membership_for(world.dora)

    assert membership.firm == world.firm
    assert membership.role == Membership.Role.FIRM_ADMIN


# --- board and lists ------------------------------------------------------------------


def test_board_has_every_column_in_rank_order(world):
    a = make_task(world.matter, "a", actor=world.alice)
    b = make_task(world.matter, "b", actor=world.alice)
    c = make_task(world.matter, "c", status=Task.Status.DONE, actor=world.alice)
    services.task_move(
        actor=world.alice, task_id=b.pk, status=Task.Status.TODO, before_id=a.pk
    )
    make_task(world.other_matter, "theirs", actor=world.oscar)

    board = selectors.board_for_matter(matter=world.matter)

    assert list(board) == list(Task.Status.values)
    assert board[Task.Status.TODO] == [b, a]
    assert board[Task.Status.DONE] == [c]
    assert board[Task.Status.IN_PROGRESS] == board[Task.Status.IN_REVIEW] == []


def test_board_filters_by_assignee_milestone_and_unassigned(world):
    mine = make_task(world.matter, assignee=world.bob, actor=world.alice)
    goal = make_task(world.matter, milestone=world.milestone, actor=world.alice)
    both = make_task(
        world.matter, assignee=world.bob, milestone=world.milestone, actor=world.alice
    )
    todo = Task.Status.TODO

    def cards(**filters):
        return selectors.board_for_matter(matter=world.matter, **filters)[todo]

    assert cards(assignee_id=world.bob.pk) == [mine, both]
    assert cards(milestone_id=world.milestone.pk) == [goal, both]
    assert cards(unassigned=True) == [goal]
    assert cards(assignee_id=world.bob.pk, milestone_id=world.milestone.pk) == [both]


def test_milestone_list_counts_tasks_and_done(world):
    make_task(world.matter, milestone=world.milestone, actor=world.alice)
    make_task(
        world.matter,
        milestone=world.milestone,
        status=Task.Status.DONE,
        actor=world.alice,
    )

    (milestone,) = selectors.milestone_list_for_matter(matter=world.matter)

    assert (milestone.task_count, milestone.done_count) == (2, 1)


def test_my_open_tasks_are_assigned_to_me_not_done_and_still_visible(world):
    soon = make_task(
        world.matter, assignee=world.bob, due_date=dt.date(2030, 1, 1), actor=world.bob
    )
    walled = make_task(world.walled, assignee=world.bob, actor=world.bob)
    make_task(world.matter, assignee=world.bob, status=Task.Status.DONE)
    make_task(world.matter, assignee=world.carol)

    assert list(selectors.task_list_open_for_user(user=world.bob)) == [soon, walled]

    # Taken off the wall, bob no longer sees the walled task, even if assigned.
    world.walled.members.remove(world.bob)
    assert list(selectors.task_list_open_for_user(user=world.bob)) == [soon]


def test_due_soon_lists_undone_visible_tasks_due_within_the_window(world):
    today = dt.date(2030, 6, 10)
    overdue = make_task(world.matter, due_date=today - dt.timedelta(days=3))
    in_a_week = make_task(world.matter, due_date=today + dt.timedelta(days=7))
    make_task(world.matter, due_date=today + dt.timedelta(days=8))
    make_task(world.matter)  # no due date
    make_task(world.matter, due_date=today, status=Task.Status.DONE)
    walled = make_task(world.walled, due_date=today)
    make_task(world.other_matter, due_date=today)

    def due(user):
        return list(selectors.task_list_due_soon(user=user, today=today, days=7))

    assert due(world.carol) == [overdue, in_a_week]
    assert due(world.alice) == [overdue, walled, in_a_week]


def test_firms_are_isolated_even_with_identical_numbers(world):
    twin_firm = make_firm("Twin LLP")
    twin_partner = make_user(twin_firm, "twin", Membership.Role.PARTNER)
    twin = make_matter(twin_firm, "HV-001")
    make_task(twin, "twin task", actor=twin_partner)

    assert numbers(selectors.matter_list_for_user(user=twin_partner)) == ["HV-001"]
    assert [t.title for t in selectors.task_queryset_for_user(user=world.alice)] == []
    with pytest.raises(Http404):
        selectors.matter_get_for_user(user=world.alice, matter_id=twin.pk)
