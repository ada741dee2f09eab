"""Services, the only writers: every rule, and every refusal changes nothing."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator

import pytest
from django.apps import apps
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.http import Http404
from django.test.utils import CaptureQueriesContext

from tasks_app import selectors, services
from tasks_app.models import Comment, Matter, Membership, Milestone, Task
from tests.fixtures.factories import make_matter, make_task, make_user

pytestmark = pytest.mark.django_db

TODO, IN_PROGRESS, IN_REVIEW, DONE = (
    Task.Status.TODO,
    Task.Status.IN_PROGRESS,
    Task.Status.IN_REVIEW,
    Task.Status.DONE,
)


# --- helpers --------------------------------------------------------------------------


def database_state() -> dict[str, list[dict]]:
    """Every row of the domain and of the event outbox, to compare before/after."""
    state = {}
    for label in ("tasks_app", "events_app"):
        for model in apps.get_app_config(label).get_models():
            state[model._meta.label] = list(model._base_manager.order_by("pk").values())
    state["matter members"] = list(
        Matter.members.through.objects.order_by("pk").values()
    )
    return state


@contextlib.contextmanager
def nothing_changes() -> Iterator[None]:
    before = database_state()
    yield
    assert database_state() == before


@contextlib.contextmanager
def no_writes() -> Iterator[None]:
    """Nothing at all is sent to the database but reads (and locks).

    Outbox rows are written by an INSERT in the same transaction (on
    PostgreSQL with workers, inside a `WITH ... INSERT` that also notifies),
    so an event the service made would show here too.
    """
    with CaptureQueriesContext(connection) as queries:
        yield
    writes = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
        or "INSERT INTO" in q["sql"].upper()
    ]
    assert writes == []


def column(matter: Matter, status: str = TODO) -> list[int]:
    return list(
        Task.objects.filter(matter=matter, status=status)
        .order_by("rank", "id")
        .values_list("pk", flat=True)
    )


def fresh(obj):
    return type(obj)._base_manager.get(pk=obj.pk)


@pytest.fixture
def task(world) -> Task:
    return make_task(world.matter, "Draft the claim", actor=world.alice)


@pytest.fixture
def walled_task(world) -> Task:
    return make_task(world.walled, "Privileged review", actor=world.alice)


@pytest.fixture
def other_task(world) -> Task:
    return make_task(world.other_matter, "Their task", actor=world.oscar)


@pytest.fixture
def loner(db):
    """A user who belongs to no firm."""
    return make_user(None, "loner")


# --- task_create ----------------------------------------------------------------------


@pytest.mark.parametrize("who", ["alice", "bob", "carol", "dora", "walt"])
def test_anyone_in_the_firm_creates_tasks_on_an_open_matter(world, who):
    actor = getattr(world, who)

    task = services.task_create(
        actor=actor, matter_id=world.matter.pk, title="  File the defence  "
    )

    task = fresh(task)
    assert task.title == "File the defence"
    assert task.matter == world.matter
    assert task.status == TODO
    assert task.created_by == actor
    assert task.last_modified_by == actor


def test_new_task_goes_to_the_bottom_of_its_column(world):
    first = make_task(world.matter, actor=world.alice)
    make_task(world.matter, status=DONE, actor=world.alice)

    second = services.task_create(
        actor=world.bob, matter_id=world.matter.pk, title="Second"
    )
    in_review = services.task_create(
        actor=world.bob, matter_id=world.matter.pk, title="Later", status=IN_REVIEW
    )

    assert column(world.matter) == [first.pk, second.pk]
    assert column(world.matter, IN_REVIEW) == [in_review.pk]


def test_task_created_with_every_field(world):
    task = services.task_create(
        actor=world.alice,
        matter_id=world.matter.pk,
        title="Instruct counsel",
        description="Brief by Friday",
        status=IN_PROGRESS,
        priority=Task.Priority.URGENT,
        assignee=world.carol,
        due_date=dt.date(2030, 1, 31),
        milestone=world.milestone,
    )

    task = fresh(task)
    assert (task.status, task.priority) == (IN_PROGRESS, Task.Priority.URGENT)
    assert (task.assignee, task.milestone) == (world.carol, world.milestone)
    assert task.due_date == dt.date(2030, 1, 31)
    assert task.description == "Brief by Friday"


def test_members_of_the_wall_create_tasks_on_a_walled_matter(world):
    task = services.task_create(
        actor=world.bob, matter_id=world.walled.pk, title="Inside", assignee=world.alice
    )

    assert fresh(task).matter == world.walled


@pytest.mark.parametrize(
    "title",
    ["", "   ", None, "x" * 201],
    ids=["empty", "blank", "none", "overlong"],
)
def test_task_without_a_proper_title_is_refused(world, title):
    with nothing_changes(), pytest.raises(ValidationError) as error:
        services.task_create(actor=world.alice, matter_id=world.matter.pk, title=title)

    assert "title" in error.value.message_dict


def test_title_of_exactly_the_maximum_length_is_accepted(world):
    task = services.task_create(
        actor=world.alice, matter_id=world.matter.pk, title="x" * 200
    )

    assert len(fresh(task).title) == 200


@pytest.mark.parametrize(
    ("field", "value"),
    [("status", "ARCHIVED"), ("status", "done"), ("priority", "CRITICAL")],
)
def test_task_with_an_unknown_choice_is_refused(world, field, value):
    with nothing_changes(), pytest.raises(ValidationError) as error:
        services.task_create(
            actor=world.alice, matter_id=world.matter.pk, title="T", **{field: value}
        )

    assert field in error.value.message_dict


def test_task_with_a_milestone_of_another_matter_is_refused(world):
    elsewhere = Milestone.objects.create(matter=world.walled, name="Walled goal")

    with nothing_changes(), pytest.raises(ValidationError) as error:
        services.task_create(
            actor=world.alice, matter_id=world.matter.pk, title="T", milestone=elsewhere
        )

    assert "milestone" in error.value.message_dict


@pytest.mark.parametrize(
    ("matter", "assignee"),
    [
        ("matter", "oscar"),  # another firm
        ("walled", "walt"),  # same firm, outside the wall
        ("walled", "carol"),
        ("walled", "oscar"),
    ],
)
def test_task_assigned_to_someone_who_cannot_see_the_matter_is_refused(
    world, matter, assignee
):
    with nothing_changes(), pytest.raises(ValidationError) as error:
        services.task_create(
            actor=world.alice,
            matter_id=getattr(world, matter).pk,
            title="T",
            assignee=getattr(world, assignee),
        )

    assert "assignee" in error.value.message_dict


def test_task_assigned_to_a_deactivated_colleague_is_refused(world):
    world.carol.is_active = False
    world.carol.save()

    with nothing_changes(), pytest.raises(ValidationError):
        services.task_create(
            actor=world.alice,
            matter_id=world.matter.pk,
            title="T",
            assignee=world.carol,
        )


@pytest.mark.parametrize(
    ("who", "matter"),
    [
        ("oscar", "matter"),
        ("alice", "other_matter"),
        ("walt", "walled"),
        ("carol", "walled"),
        ("dora", "walled"),  # a firm admin is not inside every wall
    ],
)
def test_task_on_a_matter_the_actor_cannot_see_is_not_found(world, who, matter):
    with nothing_changes(), pytest.raises(Http404):
        services.task_create(
            actor=getattr(world, who), matter_id=getattr(world, matter).pk, title="T"
        )


def test_user_without_a_firm_creates_nothing(world, loner):
    with nothing_changes(), pytest.raises(Http404):
        services.task_create(actor=loner, matter_id=world.matter.pk, title="T")


# --- task_update / task_assign --------------------------------------------------------


def test_update_changes_the_fields_and_records_who(world, task):
    before = fresh(task)

    services.task_update(
        actor=world.bob,
        task_id=task.pk,
        title=" Draft the reply ",
        description="Check the limitation date",
        priority=Task.Priority.HIGH,
        due_date=dt.date(2030, 3, 1),
        milestone=world.milestone,
        assignee=world.carol,
    )

    after = fresh(task)
    assert after.title == "Draft the reply"
    assert after.description == "Check the limitation date"
    assert after.priority == Task.Priority.HIGH
    assert after.due_date == dt.date(2030, 3, 1)
    assert (after.milestone, after.assignee) == (world.milestone, world.carol)
    assert after.last_modified_by == world.bob
    assert after.created_by == world.alice
    assert after.updated_at > before.updated_at


def test_update_that_changes_nothing_writes_nothing(world, task):
    services.task_update(
        actor=world.alice,
        task_id=task.pk,
        assignee=world.bob,
        milestone=world.milestone,
    )
    before = fresh(task)

    with nothing_changes(), no_writes():
        returned = services.task_update(
            actor=world.carol,
            task_id=task.pk,
            title="  Draft the claim ",
            status=TODO,
            assignee=world.bob,
            milestone=world.milestone,
            description="",
        )

    after = fresh(task)
    assert after.updated_at == before.updated_at
    assert after.last_modified_by == world.alice
    assert returned.pk == task.pk


def test_update_with_no_changes_at_all_writes_nothing(world, task):
    with nothing_changes(), no_writes():
        services.task_update(actor=world.bob, task_id=task.pk)


def test_clearing_assignee_milestone_and_due_date(world):
    task = make_task(
        world.matter,
        actor=world.alice,
        assignee=world.bob,
        milestone=world.milestone,
        due_date=dt.date(2030, 1, 1),
    )

    services.task_update(
        actor=world.alice, task_id=task.pk, assignee=None, milestone=None, due_date=None
    )

    after = fresh(task)
    assert (after.assignee, after.milestone, after.due_date) == (None, None, None)


def test_description_set_to_none_is_stored_blank(world):
    task = make_task(world.matter, actor=world.alice, description="Something")

    services.task_update(actor=world.alice, task_id=task.pk, description=None)

    assert fresh(task).description == ""


def test_status_change_puts_the_card_at_the_bottom_of_its_new_column(world):
    doing = [make_task(world.matter, status=IN_PROGRESS, actor=world.bob) for _ in "ab"]
    task = make_task(world.matter, actor=world.bob)

    services.task_update(actor=world.bob, task_id=task.pk, status=IN_PROGRESS)

    assert column(world.matter, IN_PROGRESS) == [doing[0].pk, doing[1].pk, task.pk]
    assert column(world.matter, TODO) == []


@pytest.mark.parametrize(
    "changes",
    [
        {"title": ""},
        {"title": "   "},
        {"title": "y" * 201},
        {"status": "LIMBO"},
        {"priority": "MEH"},
        {"description": "d" * 20_001},
        {"rank": "a"},
        {"matter": 1},
        {"created_by": None},
    ],
    ids=[
        "empty-title",
        "blank-title",
        "long-title",
        "status",
        "priority",
        "long-description",
        "rank-not-editable",
        "matter-not-editable",
        "creator-not-editable",
    ],
)
def test_bad_update_is_refused_and_changes_nothing(world, task, changes):
    with nothing_changes(), pytest.raises(ValidationError):
        services.task_update(actor=world.alice, task_id=task.pk, **changes)


def test_update_to_a_milestone_of_another_matter_is_refused(world, task):
    elsewhere = Milestone.objects.create(matter=world.other_matter, name="Theirs")

    with nothing_changes(), pytest.raises(ValidationError) as error:
        services.task_update(actor=world.alice, task_id=task.pk, milestone=elsewhere)

    assert "milestone" in error.value.message_dict


@pytest.mark.parametrize("assignee", ["walt", "carol", "dora", "oscar"])
def test_walled_task_cannot_go_to_someone_outside_the_wall(
    world, walled_task, assignee
):
    with nothing_changes(), pytest.raises(ValidationError) as error:
        services.task_assign(
            actor=world.alice,
            task_id=walled_task.pk,
            assignee=getattr(world, assignee),
        )

    assert "assignee" in error.value.message_dict


def test_assign_and_unassign(world, task):
    services.task_assign(actor=world.alice, task_id=task.pk, assignee=world.bob)
    assert fresh(task).assignee == world.bob

    services.task_assign(actor=world.bob, task_id=task.pk, assignee=None)
    after = fresh(task)
    assert after.assignee is None
    assert after.last_modified_by == world.bob


def test_assigning_the_same_person_again_writes_nothing(world, task):
    services.task_assign(actor=world.alice, task_id=task.pk, assignee=world.bob)

    with nothing_changes(), no_writes():
        services.task_assign(actor=world.carol, task_id=task.pk, assignee=world.bob)


# --- task_move ------------------------------------------------------------------------


@pytest.fixture
def board(world) -> dict[str, Task]:
    """TODO: a b c; IN_PROGRESS: d e."""
    cards = {name: make_task(world.matter, name, actor=world.alice) for name in "abc"}
    for name in "de":
        cards[name] = make_task(
            world.matter, name, status=IN_PROGRESS, actor=world.alice
        )
    return cards


def names(world, status):
    return [Task.objects.get(pk=pk).title for pk in column(world.matter, status)]


def test_move_after_a_card_in_another_column(world, board):
    moved = services.task_move(
        actor=world.bob,
        task_id=board["a"].pk,
        status=IN_PROGRESS,
        after_id=board["d"].pk,
    )

    assert names(world, TODO) == ["b", "c"]
    assert names(world, IN_PROGRESS) == ["d", "a", "e"]
    assert fresh(moved).status == IN_PROGRESS
    assert fresh(moved).last_modified_by == world.bob


def test_move_before_a_card_within_the_column(world, board):
    services.task_move(
        actor=world.bob, task_id=board["c"].pk, status=TODO, before_id=board["a"].pk
    )

    assert names(world, TODO) == ["c", "a", "b"]


def test_move_to_the_bottom_of_a_column(world, board):
    services.task_move(actor=world.carol, task_id=board["a"].pk, status=IN_PROGRESS)
    services.task_move(actor=world.carol, task_id=board["b"].pk, status=TODO)

    assert names(world, IN_PROGRESS) == ["d", "e", "a"]
    assert names(world, TODO) == ["c", "b"]


def test_move_into_an_empty_column(world, board):
    services.task_move(actor=world.alice, task_id=board["b"].pk, status=DONE)

    assert names(world, DONE) == ["b"]


def test_a_move_writes_only_the_moved_card(world, board):
    untouched = {t.pk: fresh(t) for name, t in board.items() if name != "c"}

    services.task_move(
        actor=world.bob, task_id=board["c"].pk, status=TODO, after_id=board["a"].pk
    )

    for pk, before in untouched.items():
        after = Task.objects.get(pk=pk)
        assert (after.rank, after.updated_at) == (before.rank, before.updated_at)


@pytest.mark.parametrize(
    ("card", "status", "anchor"),
    [
        ("b", TODO, {"after_id": "a"}),
        ("b", TODO, {"before_id": "c"}),
        ("a", TODO, {"before_id": "b"}),
        ("c", TODO, {"after_id": "b"}),
        ("c", TODO, {}),
        ("e", IN_PROGRESS, {}),
    ],
)
def test_dropping_a_card_on_its_own_place_writes_nothing(
    world, board, card, status, anchor
):
    anchor = {key: board[name].pk for key, name in anchor.items()}

    with nothing_changes(), no_writes():
        services.task_move(
            actor=world.bob, task_id=board[card].pk, status=status, **anchor
        )


@pytest.mark.parametrize(
    ("status", "anchor"),
    [
        (IN_PROGRESS, {"after_id": "b"}),  # b is in TODO, not IN_PROGRESS
        (TODO, {"before_id": "d"}),
        (TODO, {"after_id": "a"}),  # relative to itself
        (TODO, {"after_id": "other"}),  # a card of another matter
        (TODO, {"before_id": "walled"}),
        (TODO, {"after_id": "missing"}),
    ],
)
def test_move_relative_to_a_card_outside_that_column_is_refused(
    world, board, status, anchor
):
    board["other"] = make_task(world.other_matter, actor=world.oscar)
    board["walled"] = make_task(world.walled, actor=world.alice)
    board["missing"] = Task(pk=10**9)
    anchor = {key: board[name].pk for key, name in anchor.items()}

    with nothing_changes(), pytest.raises(ValidationError):
        services.task_move(
            actor=world.alice, task_id=board["a"].pk, status=status, **anchor
        )


def test_move_to_an_unknown_status_is_refused(world, board):
    with nothing_changes(), pytest.raises(ValidationError):
        services.task_move(actor=world.alice, task_id=board["a"].pk, status="ARCHIVE")


# --- task_delete ----------------------------------------------------------------------


def test_delete_removes_the_task_and_its_comments(world, task):
    comment = services.comment_create(actor=world.bob, task_id=task.pk, body="Hi")

    services.task_delete(actor=world.carol, task_id=task.pk)

    assert not Task.objects.filter(pk=task.pk).exists()
    assert not Comment.objects.filter(pk=comment.pk).exists()


# --- everything on objects the actor may not see: 404, nothing changes ----------------


def _actions(world, task, comment, milestone) -> dict[str, Callable]:
    return {
        "task_update": lambda actor: services.task_update(
            actor=actor, task_id=task.pk, title="Mine now"
        ),
        "task_assign": lambda actor: services.task_assign(
            actor=actor, task_id=task.pk, assignee=None
        ),
        "task_move": lambda actor: services.task_move(
            actor=actor, task_id=task.pk, status=DONE
        ),
        "task_delete": lambda actor: services.task_delete(actor=actor, task_id=task.pk),
        "comment_create": lambda actor: services.comment_create(
            actor=actor, task_id=task.pk, body="Hello"
        ),
        "comment_edit": lambda actor: services.comment_edit(
            actor=actor, comment_id=comment.pk, body="Changed"
        ),
        "comment_delete": lambda actor: services.comment_delete(
            actor=actor, comment_id=comment.pk
        ),
        "milestone_create": lambda actor: services.milestone_create(
            actor=actor, matter_id=task.matter_id, name="Sneaky"
        ),
        "milestone_update": lambda actor: services.milestone_update(
            actor=actor, milestone_id=milestone.pk, name="Renamed"
        ),
    }


ACTIONS = [
    "task_update",
    "task_assign",
    "task_move",
    "task_delete",
    "comment_create",
    "comment_edit",
    "comment_delete",
    "milestone_create",
    "milestone_update",
]


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize(
    ("where", "who"),
    [
        ("other_matter", "alice"),  # another firm's objects
        ("matter", "oscar"),
        ("walled", "walt"),  # outside the wall
        ("walled", "dora"),
        ("matter", "loner"),  # no firm at all
    ],
)
def test_objects_the_actor_cannot_see_are_not_found(world, loner, action, where, who):
    matter = getattr(world, where)
    owner = world.oscar if where == "other_matter" else world.alice
    task = make_task(matter, actor=owner)
    comment = services.comment_create(actor=owner, task_id=task.pk, body="Note")
    milestone = services.milestone_create(actor=owner, matter_id=matter.pk, name="Goal")
    actor = loner if who == "loner" else getattr(world, who)
    run = _actions(world, task, comment, milestone)[action]

    with nothing_changes(), pytest.raises(Http404) as hidden:
        run(actor)

    # Exactly what a made-up id gives: the wall leaks nothing, not even existence.
    for obj in (task, comment, milestone):
        obj.pk += 10**9
    with pytest.raises(Http404) as missing:
        run(actor)
    assert str(hidden.value) == str(missing.value)


# --- comments -------------------------------------------------------------------------


def test_comment_is_added_by_its_author(world, task):
    comment = services.comment_create(
        actor=world.carol, task_id=task.pk, body="  Called the client.  "
    )

    comment = fresh(comment)
    assert comment.body == "Called the client."
    assert (comment.author, comment.last_modified_by) == (world.carol, world.carol)
    assert comment.edited_at is None
    assert list(selectors.task_comments(task=task)) == [comment]


@pytest.mark.parametrize(
    "body", ["", "  \n ", None, "b" * 10_001], ids=["empty", "blank", "none", "long"]
)
def test_empty_or_overlong_comment_is_refused(world, task, body):
    with nothing_changes(), pytest.raises(ValidationError) as error:
        services.comment_create(actor=world.bob, task_id=task.pk, body=body)

    assert "body" in error.value.message_dict


@pytest.fixture
def bobs_comment(world, task) -> Comment:
    return services.comment_create(actor=world.bob, task_id=task.pk, body="First")


def test_author_edits_own_comment(world, bobs_comment):
    services.comment_edit(actor=world.bob, comment_id=bobs_comment.pk, body=" Second ")

    after = fresh(bobs_comment)
    assert after.body == "Second"
    assert after.edited_at is not None
    assert after.last_modified_by == world.bob


def test_edit_that_changes_nothing_writes_nothing(world, bobs_comment):
    with nothing_changes(), no_writes():
        services.comment_edit(
            actor=world.bob, comment_id=bobs_comment.pk, body="First "
        )

    assert fresh(bobs_comment).edited_at is None


@pytest.mark.parametrize("who", ["alice", "carol", "dora"])
def test_nobody_edits_or_deletes_someone_elses_comment(world, bobs_comment, who):
    actor = getattr(world, who)

    with nothing_changes(), pytest.raises(PermissionDenied):
        services.comment_edit(actor=actor, comment_id=bobs_comment.pk, body="Mine")
    with nothing_changes(), pytest.raises(PermissionDenied):
        services.comment_delete(actor=actor, comment_id=bobs_comment.pk)


@pytest.mark.parametrize("body", ["", "   ", "c" * 10_001])
def test_edit_to_an_empty_or_overlong_body_is_refused(world, bobs_comment, body):
    with nothing_changes(), pytest.raises(ValidationError):
        services.comment_edit(actor=world.bob, comment_id=bobs_comment.pk, body=body)


def test_author_deletes_own_comment_softly(world, task, bobs_comment):
    services.comment_delete(actor=world.bob, comment_id=bobs_comment.pk)

    after = fresh(bobs_comment)
    assert after.is_deleted
    assert after.body == "First"  # kept for the record
    assert list(selectors.task_comments(task=task)) == []


def test_deleted_comment_is_gone_for_everyone_including_its_author(world, bobs_comment):
    services.comment_delete(actor=world.bob, comment_id=bobs_comment.pk)

    with nothing_changes(), pytest.raises(Http404):
        services.comment_delete(actor=world.bob, comment_id=bobs_comment.pk)
    with nothing_changes(), pytest.raises(Http404):
        services.comment_edit(actor=world.bob, comment_id=bobs_comment.pk, body="Back")


# --- milestones -----------------------------------------------------------------------


def test_milestone_created_and_updated(world):
    milestone = services.milestone_create(
        actor=world.carol,
        matter_id=world.matter.pk,
        name="Trial",
        due_date=dt.date(2031, 6, 1),
    )
    assert (fresh(milestone).created_by, fresh(milestone).progress) == (world.carol, 0)

    services.milestone_update(
        actor=world.bob, milestone_id=milestone.pk, name="Trial (listed)"
    )
    after = fresh(milestone)
    assert after.name == "Trial (listed)"
    assert after.due_date == dt.date(2031, 6, 1)  # untouched when not given
    assert after.last_modified_by == world.bob

    services.milestone_update(actor=world.bob, milestone_id=milestone.pk, due_date=None)
    assert fresh(milestone).due_date is None


def test_milestone_update_that_changes_nothing_writes_nothing(world):
    milestone = services.milestone_create(
        actor=world.alice, matter_id=world.matter.pk, name="Trial"
    )

    with nothing_changes(), no_writes():
        services.milestone_update(
            actor=world.bob, milestone_id=milestone.pk, name="Trial", due_date=None
        )


@pytest.mark.parametrize("name", ["", "n" * 201])
def test_milestone_without_a_proper_name_is_refused(world, name):
    with nothing_changes(), pytest.raises(ValidationError):
        services.milestone_create(
            actor=world.alice, matter_id=world.matter.pk, name=name
        )
    with nothing_changes(), pytest.raises(ValidationError):
        services.milestone_update(
            actor=world.alice, milestone_id=world.milestone.pk, name=name
        )


def test_milestone_progress_is_recomputed_from_its_tasks(world):
    milestone = world.milestone
    assert (
        services.milestone_recompute_progress(milestone_id=milestone.pk).progress == 0
    )

    tasks = [make_task(world.matter, milestone=milestone) for _ in range(3)]
    make_task(world.matter, status=DONE)  # not in the milestone
    services.task_move(actor=world.alice, task_id=tasks[0].pk, status=DONE)
    services.milestone_recompute_progress(milestone_id=milestone.pk)
    assert fresh(milestone).progress == 33

    for task in tasks[1:]:
        services.task_move(actor=world.alice, task_id=task.pk, status=DONE)
    services.milestone_recompute_progress(milestone_id=milestone.pk)
    after = fresh(milestone)
    assert after.progress == 100
    assert after.last_modified_by is None  # the system did it


def test_recomputing_unchanged_progress_writes_nothing(world):
    make_task(world.matter, milestone=world.milestone, status=DONE)
    services.milestone_recompute_progress(milestone_id=world.milestone.pk)

    with nothing_changes(), no_writes():
        again = services.milestone_recompute_progress(milestone_id=world.milestone.pk)

    assert again.progress == 100


def test_recomputing_a_deleted_milestone_is_harmless(world):
    assert services.milestone_recompute_progress(milestone_id=10**9) is None


# --- matters --------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["alice", "dora"])
def test_partners_and_firm_admins_open_matters(world, who):
    matter = services.matter_create(
        actor=getattr(world, who), number="HV-100", name="Acme", client_name="Acme plc"
    )

    assert fresh(matter).firm == world.firm
    assert not matter.is_restricted


@pytest.mark.parametrize("who", ["bob", "carol"])
def test_associates_and_paralegals_do_not_open_matters(world, who):
    with nothing_changes(), pytest.raises(PermissionDenied):
        services.matter_create(
            actor=getattr(world, who), number="HV-100", name="A", client_name="C"
        )


def test_user_without_a_firm_opens_no_matter(world, loner):
    with nothing_changes(), pytest.raises(PermissionDenied):
        services.matter_create(actor=loner, number="X-1", name="A", client_name="C")


def test_walled_matter_always_includes_the_partner_who_opens_it(world):
    matter = services.matter_create(
        actor=world.alice,
        number="HV-200",
        name="Secret",
        client_name="Quiet Ltd",
        is_restricted=True,
        members=[world.carol],
    )

    assert set(matter.members.all()) == {world.alice, world.carol}
    assert selectors.user_can_see_matter(user=world.carol, matter=matter)
    assert not selectors.user_can_see_matter(user=world.bob, matter=matter)


def test_walled_matter_with_a_member_of_another_firm_is_refused(world):
    with nothing_changes(), pytest.raises(ValidationError) as error:
        services.matter_create(
            actor=world.alice,
            number="HV-300",
            name="Mixed",
            client_name="C",
            is_restricted=True,
            members=[world.bob, world.oscar],
        )

    assert "members" in error.value.message_dict


def test_matter_numbers_are_unique_within_a_firm_only(world):
    with nothing_changes(), pytest.raises(ValidationError):
        services.matter_create(
            actor=world.alice, number="HV-001", name="Dup", client_name="C"
        )

    theirs = services.matter_create(
        actor=world.oscar, number="HV-001", name="Same number", client_name="C"
    )
    assert theirs.firm == world.other_firm


@pytest.mark.parametrize("field", ["number", "name", "client_name"])
def test_matter_missing_a_required_field_is_refused(world, field):
    values = {"number": "HV-400", "name": "N", "client_name": "C", field: ""}

    with nothing_changes(), pytest.raises(ValidationError):
        services.matter_create(actor=world.alice, **values)


def test_new_matter_is_seen_by_its_firm_and_nobody_else(world):
    matter = services.matter_create(
        actor=world.dora, number="HV-500", name="Open", client_name="C"
    )
    colleague = make_user(world.firm, "newbie", Membership.Role.PARALEGAL)

    assert selectors.user_can_see_matter(user=colleague, matter=matter)
    assert not selectors.user_can_see_matter(user=world.oscar, matter=matter)


def test_restricted_flag_alone_walls_off_everyone_else(world):
    matter = make_matter(world.firm, restricted=True, members=[world.bob])

    with pytest.raises(Http404):
        services.task_create(actor=world.alice, matter_id=matter.pk, title="T")
