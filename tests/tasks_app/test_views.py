"""Pages and actions: who may open what, what each action saves, how bad input fails.

Every refusal is checked three ways: the status code, the message a person
reads, and that nothing changed in the database.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from collections.abc import Callable

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tasks_app.models import Comment, Matter, MatterMember, Milestone, Task, User
from tests.fixtures.factories import World, make_matter, make_task

pytestmark = pytest.mark.django_db

JSON = {"HTTP_ACCEPT": "application/json"}
HTMX = {"HTTP_HX_REQUEST": "true"}


# --- helpers ------------------------------------------------------------------


@pytest.fixture
def as_user(client: Client) -> Callable[[User], Client]:
    def _as(user: User) -> Client:
        client.force_login(user)
        return client

    return _as


@pytest.fixture
def task(world: World) -> Task:
    return make_task(
        world.matter,
        "Draft particulars of claim",
        actor=world.alice,
        assignee=world.bob,
        milestone=world.milestone,
    )


@pytest.fixture
def walled_task(world: World) -> Task:
    return make_task(world.walled, "Data room review", actor=world.alice)


@pytest.fixture
def other_task(world: World) -> Task:
    return make_task(world.other_matter, "Other firm's task", actor=world.oscar)


@pytest.fixture
def comment(task: Task, world: World) -> Comment:
    from tasks_app import services

    return services.comment_create(
        actor=world.bob, task_id=task.pk, body="First pass done."
    )


def snapshot(task: Task) -> dict:
    """The fields a user can change, as stored."""
    row = Task.objects.filter(pk=task.pk).values(
        "title",
        "description",
        "status",
        "priority",
        "assignee_id",
        "due_date",
        "milestone_id",
        "rank",
        "updated_at",
    )
    return row.get()


def column(matter_id: int, status: str) -> list[str]:
    return list(
        Task.objects.filter(matter_id=matter_id, status=status)
        .order_by("rank", "id")
        .values_list("title", flat=True)
    )


def task_form(task: Task, **changes: object) -> dict:
    data = {
        "title": task.title,
        "description": task.description,
        "status": task.status,
        "priority": task.priority,
        "assignee": task.assignee_id or "",
        "due_date": task.due_date.isoformat() if task.due_date else "",
        "milestone": task.milestone_id or "",
    }
    data.update(changes)
    return data


# --- anonymous ----------------------------------------------------------------


ANONYMOUS_URLS = [
    ("get", "home", lambda t, c: []),
    ("get", "search", lambda t, c: []),
    ("get", "board", lambda t, c: [t.matter_id]),
    ("get", "board_columns", lambda t, c: [t.matter_id]),
    ("post", "task_quick_add", lambda t, c: [t.matter_id]),
    ("get", "milestones", lambda t, c: [t.matter_id]),
    ("post", "milestones", lambda t, c: [t.matter_id]),
    ("get", "milestone_edit", lambda t, c: [t.milestone_id]),
    ("get", "task_detail", lambda t, c: [t.pk]),
    ("post", "task_detail", lambda t, c: [t.pk]),
    ("get", "task_card", lambda t, c: [t.pk]),
    ("post", "task_move", lambda t, c: [t.pk]),
    ("post", "task_delete", lambda t, c: [t.pk]),
    ("post", "comment_create", lambda t, c: [t.pk]),
    ("post", "comment_edit", lambda t, c: [c.pk]),
    ("post", "comment_delete", lambda t, c: [c.pk]),
]


@pytest.mark.parametrize(("method", "name", "args"), ANONYMOUS_URLS)
def test_anonymous_visitor_is_sent_to_the_login_page(
    client: Client, task: Task, comment: Comment, method: str, name: str, args
) -> None:
    url = reverse(name, args=args(task, comment))
    before = snapshot(task)

    if method == "post":
        response = client.post(url, {"title": "x", "status": "DONE", "body": "x"})
    else:
        response = client.get(url)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"
    assert snapshot(task) == before
    assert Task.objects.count() == 1


def test_htmx_request_after_the_session_ended_is_sent_to_log_in_again(
    client: Client, task: Task
) -> None:
    board = reverse("board", args=[task.matter_id])

    response = client.get(
        reverse("board_columns", args=[task.matter_id]),
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL=f"http://testserver{board}?assignee=none",
    )

    assert response.status_code == 401
    assert response["HX-Redirect"] == (
        f"{reverse('login')}?next={board.replace('/', '%2F')}%3Fassignee%3Dnone"
    )
    assert response.content.decode() == "Your session has ended. Please log in again."


def test_json_move_after_the_session_ended_is_a_401_and_moves_nothing(
    client: Client, task: Task
) -> None:
    before = snapshot(task)

    response = client.post(
        reverse("task_move", args=[task.pk]), {"status": "DONE"}, **JSON
    )

    assert response.status_code == 401
    assert response.json() == {"error": "Your session has ended. Please log in again."}
    assert snapshot(task) == before


# --- log in and out -------------------------------------------------------------


def test_login_page_logs_a_person_in_and_sends_them_home(
    client: Client, world: World
) -> None:
    assert client.get(reverse("login")).status_code == 200

    response = client.post(
        reverse("login"),
        {"username": "alice", "password": "correct-horse-battery"},
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    assert client.get(reverse("home")).context["user"] == world.alice


def test_wrong_password_shows_a_clear_error(client: Client, world: World) -> None:
    response = client.post(
        reverse("login"), {"username": "alice", "password": "not-it"}
    )

    assert response.status_code == 200
    assert "did not match" in response.content.decode()


def test_repeated_failed_logins_are_refused_for_a_while_without_more_events(
    client: Client, world: World, settings
) -> None:
    from django.core.cache import cache

    from events_app import names
    from events_app.models import OutboxEvent
    from tasks_app.forms import login_failures_key

    settings.LOGIN_FAILURE_LIMIT = 3
    # The count lives in the shared cache: start from none.
    cache.delete(login_failures_key("127.0.0.1", "alice"))
    failed = OutboxEvent.objects.filter(name=names.USER_LOGIN_FAILED)
    for _ in range(3):
        client.post(reverse("login"), {"username": "alice", "password": "guess"})
    assert failed.count() == 3

    blocked = client.post(
        reverse("login"), {"username": "alice", "password": "correct-horse-battery"}
    )

    assert blocked.status_code == 200
    assert "Too many failed logins" in blocked.content.decode()
    assert "_auth_user_id" not in client.session
    assert failed.count() == 3  # refused before the password is even tried
    other = Client().post(
        reverse("login"), {"username": "bob", "password": "correct-horse-battery"}
    )
    assert other.status_code == 302  # only that name from that address waits


def test_a_missing_page_is_the_products_own_even_with_debug_on(
    client: Client, world: World, settings
) -> None:
    settings.DEBUG = True
    client.force_login(world.walt)
    for url in ("/no/such/page/", f"/matters/{world.walled.pk}/", "/tasks/999999/"):
        response = client.get(url)
        body = response.content.decode()
        assert response.status_code == 404, url
        assert "There is nothing here" in body
        assert "URLconf" not in body and "api/events/" not in body
    denied = client.get("/people/")
    assert denied.status_code == 403
    assert "Only firm admins manage people." in denied.content.decode()


def test_logout_is_a_post_and_ends_the_session(as_user, world: World) -> None:
    client = as_user(world.alice)

    assert client.get(reverse("logout")).status_code == 405
    response = client.post(reverse("logout"))

    assert response.status_code == 302
    assert client.get(reverse("home")).status_code == 302


# --- home -----------------------------------------------------------------------


def test_home_lists_my_matters_open_counts_my_tasks_and_due_soon(
    as_user, world: World, task: Task
) -> None:
    make_task(world.matter, "Finished", actor=world.alice, status=Task.Status.DONE)
    soon = make_task(
        world.matter,
        "File the defence",
        actor=world.alice,
        due_date=timezone.localdate() + dt.timedelta(days=2),
    )

    response = as_user(world.bob).get(reverse("home"))

    assert response.status_code == 200
    matters = {m.number: m.open_tasks for m in response.context["matters"]}
    assert matters == {"HV-001": 2, "HV-002": 0}
    assert [t.title for t in response.context["my_tasks"]] == [task.title]
    assert [t.title for t in response.context["due_soon"]] == [soon.title]
    page = response.content.decode()
    assert "HV-001" in page and "File the defence" in page


def test_home_of_someone_outside_the_wall_does_not_mention_the_walled_matter(
    as_user, world: World
) -> None:
    response = as_user(world.walt).get(reverse("home"))

    assert response.status_code == 200
    assert [m.number for m in response.context["matters"]] == ["HV-001"]
    page = response.content.decode()
    assert world.walled.number not in page
    assert world.walled.name not in page


def test_home_of_another_firm_shows_only_its_own_matters(as_user, world: World) -> None:
    response = as_user(world.oscar).get(reverse("home"))

    assert [m.number for m in response.context["matters"]] == ["OT-001"]
    assert world.matter.name not in response.content.decode()


def test_home_of_a_user_without_a_firm_shows_no_matters(
    client: Client, world: World
) -> None:
    loner = User.objects.create_user(username="loner", password="x-long-password")
    client.force_login(loner)

    response = client.get(reverse("home"))

    assert response.status_code == 200
    assert list(response.context["matters"]) == []


# --- search ---------------------------------------------------------------------

MENU = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "search-menu"}


def test_header_has_the_search_box_for_people_logged_in_only(
    as_user, client: Client, world: World
) -> None:
    assert 'id="site-search"' not in client.get(reverse("login")).content.decode()

    home = as_user(world.alice).get(reverse("home")).content.decode()

    assert 'id="site-search"' in home
    assert 'hx-get="/search/"' in home


def test_search_page_lists_matches_by_kind_linked_to_their_pages(
    as_user, world: World, task: Task, comment: Comment
) -> None:
    response = as_user(world.carol).get(reverse("search"), {"q": "particulars"})

    body = response.content.decode()
    assert response.status_code == 200
    assert f'href="/tasks/{task.pk}/"' in body
    assert "of claim" in body and "<mark>" in body
    response = as_user(world.carol).get(reverse("search"), {"q": "first pass"})
    assert f'href="/tasks/{task.pk}/#comment-{comment.pk}"' in response.content.decode()
    response = as_user(world.carol).get(reverse("search"), {"q": world.matter.number})
    assert f'href="/matters/{world.matter.pk}/"' in response.content.decode()


def test_search_menu_is_a_fragment_for_the_header_box_and_announces_the_count(
    as_user, world: World, task: Task
) -> None:
    response = as_user(world.carol).get(reverse("search"), {"q": "particulars"}, **MENU)

    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body
    assert f'href="/tasks/{task.pk}/"' in body
    assert json.loads(response["HX-Trigger"]) == {
        "announce": {"message": "1 task. Press Down to go through them."}
    }


def test_an_emptied_box_closes_the_menu(as_user, world: World) -> None:
    response = as_user(world.carol).get(reverse("search"), {"q": "  "}, **MENU)

    assert response.status_code == 200
    assert response.content == b""


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "Type a few words to find matters, tasks and comments."),
        ("x" * 10_000, "Search for at most 200 characters"),
        ("&|!:* ()", "punctuation alone finds nothing"),
        ("a\x00b", "Null characters are not allowed."),
    ],
)
def test_bad_search_input_is_a_200_with_a_clear_message(
    as_user, world: World, task: Task, query: str, message: str
) -> None:
    for extra in ({}, MENU):
        response = as_user(world.alice).get(reverse("search"), {"q": query}, **extra)

        assert response.status_code == 200
        if query or not extra:
            assert message in response.content.decode()


def test_a_search_that_finds_nothing_says_so(as_user, world: World, task: Task) -> None:
    response = as_user(world.alice).get(reverse("search"), {"q": "zebra crossing"})

    assert response.status_code == 200
    assert "No matches" in response.content.decode()


def test_search_results_show_html_in_titles_as_text(as_user, world: World) -> None:
    make_task(world.matter, "<script>alert(1)</script> Escrow", actor=world.alice)

    for extra in ({}, MENU):
        body = (
            as_user(world.alice)
            .get(reverse("search"), {"q": "escrow"}, **extra)
            .content.decode()
        )

        assert "<script>alert(1)" not in body
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


@pytest.mark.parametrize("name", ["walt", "dora", "connie", "oscar"])
def test_search_pages_of_people_outside_the_wall_name_nothing_behind_it(
    as_user, world: World, connie: User, name: str
) -> None:
    """The query itself is never echoed: searching a hidden name shows no name."""
    from tasks_app import services

    walled_task = make_task(world.walled, "Kestrel escrow release", actor=world.alice)
    services.comment_create(
        actor=world.bob, task_id=walled_task.pk, body="Escrow agent confirmed."
    )
    person = connie if name == "connie" else getattr(world, name)
    hidden = [walled_task.title, world.walled.number, world.walled.name, "Kestrel"]

    for query in [*hidden, "escrow"]:
        for extra in ({}, MENU):
            response = as_user(person).get(reverse("search"), {"q": query}, **extra)

            body = response.content.decode()
            assert response.status_code == 200
            assert not [label for label in hidden if label in body], query
            assert f"/tasks/{walled_task.pk}/" not in body


def test_people_inside_the_wall_find_its_tasks_on_the_page(
    as_user, world: World
) -> None:
    walled_task = make_task(world.walled, "Kestrel escrow release", actor=world.alice)

    body = (
        as_user(world.bob)
        .get(reverse("search"), {"q": "escrow release"})
        .content.decode()
    )

    assert f'href="/tasks/{walled_task.pk}/"' in body
    assert "Walled" in body


def test_anonymous_search_from_the_header_box_is_sent_to_log_in(
    client: Client,
) -> None:
    response = client.get(reverse("search"), {"q": "escrow"}, **MENU)

    assert response.status_code == 401
    assert "HX-Redirect" in response


# --- board ----------------------------------------------------------------------


def test_board_shows_a_column_per_status_with_cards_in_rank_order(
    as_user, world: World
) -> None:
    overdue = make_task(
        world.matter,
        "Overdue card",
        actor=world.alice,
        assignee=world.carol,
        due_date=timezone.localdate() - dt.timedelta(days=3),
        milestone=world.milestone,
        priority=Task.Priority.URGENT,
    )
    make_task(world.matter, "Second card", actor=world.alice)
    make_task(world.matter, "Reviewing", actor=world.alice, status="IN_REVIEW")

    response = as_user(world.alice).get(reverse("board", args=[world.matter.pk]))

    assert response.status_code == 200
    columns = {
        c.status: [card.task.title for card in c.cards]
        for c in response.context["columns"]
    }
    assert columns == {
        "TODO": ["Overdue card", "Second card"],
        "IN_PROGRESS": [],
        "IN_REVIEW": ["Reviewing"],
        "DONE": [],
    }
    page = response.content.decode()
    for status in Task.Status.values:
        assert f'id="column-{status}" data-status="{status}"' in page
    start = page.rindex("<article", 0, page.index(f'id="task-{overdue.pk}"'))
    card = page[start:]
    card = card[: card.index("</article>")]
    assert f'data-task-id="{overdue.pk}"' in card
    assert "is-overdue" in card and "Overdue</strong>" in card
    assert ">CK<" in card  # Carol King's initials
    assert "Disclosure" in card
    assert "Urgent" in card


def test_board_filters_by_assignee_unassigned_and_milestone(
    as_user, world: World
) -> None:
    make_task(world.matter, "Bob's", actor=world.alice, assignee=world.bob)
    make_task(world.matter, "Nobody's", actor=world.alice)
    make_task(
        world.matter, "In milestone", actor=world.alice, milestone=world.milestone
    )
    client = as_user(world.alice)
    url = reverse("board", args=[world.matter.pk])

    def titles(params: dict) -> list[str]:
        response = client.get(url, params)
        assert response.status_code == 200
        return [c.task.title for col in response.context["columns"] for c in col.cards]

    assert titles({"assignee": world.bob.pk}) == ["Bob's"]
    assert titles({"assignee": "none"}) == ["Nobody's", "In milestone"]
    assert titles({"milestone": world.milestone.pk}) == ["In milestone"]
    assert titles({"assignee": "none", "milestone": world.milestone.pk}) == [
        "In milestone"
    ]


@pytest.mark.parametrize(
    "params",
    [
        {"assignee": "abc"},
        {"assignee": "99999"},
        {"milestone": "x"},
        {"milestone": "-1"},
        {"assignee": "1" * 40},
    ],
)
def test_board_ignores_filters_it_cannot_read(
    as_user, world: World, task: Task, params: dict
) -> None:
    response = as_user(world.alice).get(
        reverse("board", args=[world.matter.pk]), params
    )

    assert response.status_code == 200
    cards = [c.task.pk for col in response.context["columns"] for c in col.cards]
    assert cards == [task.pk]


def test_board_filter_by_another_firms_milestone_is_ignored(
    as_user, world: World, task: Task
) -> None:
    foreign = Milestone.objects.create(matter=world.other_matter, name="Theirs")

    response = as_user(world.alice).get(
        reverse("board", args=[world.matter.pk]), {"milestone": foreign.pk}
    )

    assert response.status_code == 200
    assert [c.task.pk for c in response.context["columns"][0].cards] == [task.pk]


def test_walled_board_opens_for_those_inside_and_is_404_for_others(
    as_user, world: World, walled_task: Task
) -> None:
    url = reverse("board", args=[world.walled.pk])

    assert as_user(world.bob).get(url).status_code == 200
    response = as_user(world.walt).get(url)
    assert response.status_code == 404
    assert world.walled.name not in response.content.decode()
    assert walled_task.title not in response.content.decode()


def test_board_of_another_firm_is_404(as_user, world: World, other_task) -> None:
    response = as_user(world.alice).get(reverse("board", args=[world.other_matter.pk]))

    assert response.status_code == 404
    assert other_task.title not in response.content.decode()


def test_board_of_a_matter_that_does_not_exist_is_404(as_user, world: World) -> None:
    assert as_user(world.alice).get("/matters/999999/").status_code == 404
    assert as_user(world.alice).get("/matters/abc/").status_code == 404


def test_board_columns_fragment_returns_every_column_or_one(
    as_user, world: World, task: Task
) -> None:
    client = as_user(world.alice)
    url = reverse("board_columns", args=[world.matter.pk])

    every = client.get(url)
    one = client.get(url, {"status": "TODO"})

    assert every.status_code == 200
    page = every.content.decode()
    assert "<html" not in page
    assert all(f'id="column-{s}"' in page for s in Task.Status.values)
    assert one.status_code == 200
    page = one.content.decode()
    assert page.count('class="board-column"') == 1
    assert f'data-task-id="{task.pk}"' in page


def test_board_columns_fragment_refuses_an_unknown_status(
    as_user, world: World
) -> None:
    response = as_user(world.alice).get(
        reverse("board_columns", args=[world.matter.pk]),
        {"status": "LOST"},
        **HTMX,
    )

    assert response.status_code == 400
    assert "“LOST” is not a column of the board." in response.content.decode()


def test_board_fragments_are_404_across_firms_and_walls(
    as_user, world: World, walled_task: Task, other_task: Task
) -> None:
    client = as_user(world.walt)
    assert (
        client.get(reverse("board_columns", args=[world.walled.pk])).status_code == 404
    )
    assert client.get(reverse("task_card", args=[walled_task.pk])).status_code == 404
    assert client.get(reverse("task_card", args=[other_task.pk])).status_code == 404


def test_task_card_fragment_renders_one_card_with_its_move_menu(
    as_user, world: World, task: Task
) -> None:
    below = make_task(world.matter, "Below", actor=world.alice)

    response = as_user(world.alice).get(reverse("task_card", args=[task.pk]))

    assert response.status_code == 200
    page = response.content.decode()
    assert page.count("<article") == 1
    assert f'data-task-id="{task.pk}"' in page
    assert 'data-status="TODO"' in page
    assert f'name="after_id" value="{below.pk}"' in page  # "Down" goes below it
    # Already at the top: "Up" is there for a live board to re-link, but hidden.
    up = re.search(
        r"(<form [^>]*>)(?:(?!</form>).)*data-move-action=\"up\"", page, re.S
    )
    assert up and up.group(1).endswith(" hidden>")
    assert 'name="before_id" value=""' in page


# --- quick add -------------------------------------------------------------------


def test_quick_add_appends_a_card_to_the_bottom_of_the_column(
    as_user, world: World, task: Task
) -> None:
    response = as_user(world.bob).post(
        reverse("task_quick_add", args=[world.matter.pk]),
        {"title": "  Call the client  ", "status": "TODO"},
        **HTMX,
    )

    assert response.status_code == 204
    assert json.loads(response["HX-Trigger"]) == {
        "board-changed": {},
        "announce": {"message": "Added “Call the client” to To do."},
    }
    assert column(world.matter.pk, "TODO") == [task.title, "Call the client"]
    created = Task.objects.get(title="Call the client")
    assert created.created_by == world.bob


def test_quick_add_without_javascript_returns_to_the_board(
    as_user, world: World
) -> None:
    response = as_user(world.alice).post(
        reverse("task_quick_add", args=[world.matter.pk]),
        {"title": "Book counsel", "status": "IN_PROGRESS"},
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("board", args=[world.matter.pk])
    assert column(world.matter.pk, "IN_PROGRESS") == ["Book counsel"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"title": "", "status": "TODO"}, "Title: This field is required."),
        ({"title": "   ", "status": "TODO"}, "Title: This field is required."),
        (
            {"title": "x" * 201, "status": "TODO"},
            "Title: Ensure this value has at most 200 characters (it has 201).",
        ),
        (
            {"title": "Fine", "status": "LOST"},
            "Status: Select a valid choice. LOST is not one of the available choices.",
        ),
        ({"title": "Fine"}, "Status: This field is required."),
    ],
)
def test_quick_add_with_bad_input_is_a_400_and_adds_nothing(
    as_user, world: World, data: dict, message: str
) -> None:
    response = as_user(world.alice).post(
        reverse("task_quick_add", args=[world.matter.pk]), data, **HTMX
    )

    assert response.status_code == 400
    assert response.content.decode() == message
    assert not Task.objects.exists()


def test_quick_add_bad_input_without_javascript_shows_an_error_page(
    as_user, world: World
) -> None:
    response = as_user(world.alice).post(
        reverse("task_quick_add", args=[world.matter.pk]),
        {"title": "", "status": "TODO"},
    )

    assert response.status_code == 400
    assert "Title: This field is required." in response.content.decode()
    assert not Task.objects.exists()


def test_quick_add_to_another_firms_or_a_walled_matter_is_404(
    as_user, world: World
) -> None:
    data = {"title": "Sneaky", "status": "TODO"}

    assert (
        as_user(world.alice)
        .post(reverse("task_quick_add", args=[world.other_matter.pk]), data)
        .status_code
        == 404
    )
    assert (
        as_user(world.walt)
        .post(reverse("task_quick_add", args=[world.walled.pk]), data)
        .status_code
        == 404
    )
    assert not Task.objects.filter(title="Sneaky").exists()


def test_quick_add_is_post_only(as_user, world: World) -> None:
    url = reverse("task_quick_add", args=[world.matter.pk])
    assert as_user(world.alice).get(url).status_code == 405


# --- moving cards ----------------------------------------------------------------


@pytest.fixture
def three(world: World) -> list[Task]:
    return [make_task(world.matter, name, actor=world.alice) for name in "ABC"]


def test_move_to_another_column_saves_status_and_answers_json(
    as_user, world: World, three: list[Task]
) -> None:
    a, _, _ = three

    response = as_user(world.bob).post(
        reverse("task_move", args=[a.pk]), {"status": "IN_PROGRESS"}, **JSON
    )

    assert response.status_code == 200
    assert response.json()["status"] == "IN_PROGRESS"
    assert column(world.matter.pk, "IN_PROGRESS") == ["A"]
    assert column(world.matter.pk, "TODO") == ["B", "C"]
    a.refresh_from_db()
    assert a.last_modified_by == world.bob


def test_move_after_and_before_a_card_reorders_the_column(
    as_user, world: World, three: list[Task]
) -> None:
    a, b, c = three
    client = as_user(world.alice)
    url = reverse("task_move", args=[a.pk])

    client.post(url, {"status": "TODO", "after_id": c.pk}, **JSON)
    assert column(world.matter.pk, "TODO") == ["B", "C", "A"]

    client.post(url, {"status": "TODO", "before_id": c.pk}, **JSON)
    assert column(world.matter.pk, "TODO") == ["B", "A", "C"]

    client.post(
        reverse("task_move", args=[c.pk]), {"status": "TODO", "before_id": b.pk}, **JSON
    )
    assert column(world.matter.pk, "TODO") == ["C", "B", "A"]


def test_move_from_the_keyboard_menu_with_htmx_asks_the_board_to_redraw(
    as_user, world: World, three: list[Task]
) -> None:
    a, b, _ = three

    response = as_user(world.alice).post(
        reverse("task_move", args=[b.pk]),
        {"status": "TODO", "before_id": a.pk},
        **HTMX,
    )

    assert response.status_code == 204
    assert json.loads(response["HX-Trigger"]) == {
        "board-changed": {},
        "announce": {"message": "Moved “B” in To do."},
    }
    assert column(world.matter.pk, "TODO") == ["B", "A", "C"]


def test_move_without_javascript_returns_to_the_filtered_board(
    as_user, world: World, three: list[Task]
) -> None:
    board = reverse("board", args=[world.matter.pk]) + "?assignee=none"

    response = as_user(world.alice).post(
        reverse("task_move", args=[three[0].pk]), {"status": "DONE", "next": board}
    )

    assert response.status_code == 302
    assert response["Location"] == board
    assert column(world.matter.pk, "DONE") == ["A"]


def test_move_never_redirects_to_another_site(
    as_user, world: World, three: list[Task]
) -> None:
    response = as_user(world.alice).post(
        reverse("task_move", args=[three[0].pk]),
        {"status": "DONE", "next": "https://evil.example/"},
    )

    assert response["Location"] == reverse("board", args=[world.matter.pk])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"status": "LOST"}, "Status: “LOST” is not a column of the board."),
        ({}, "Status: This field is required."),
        ({"status": "DONE", "after_id": "abc"}, "After id: Enter a whole number."),
        ({"status": "DONE", "before_id": "1.5"}, "Before id: Enter a whole number."),
        (
            {"status": "DONE", "after_id": "0"},
            "After id: Ensure this value is greater than or equal to 1.",
        ),
        (
            {"status": "DONE", "after_id": "9" * 30},
            "The card to place after is not in that column of this board.",
        ),
        (
            {"status": "DONE", "after_id": "999999"},
            "The card to place after is not in that column of this board.",
        ),
    ],
)
def test_move_with_bad_input_is_a_400_with_a_message_and_moves_nothing(
    as_user, world: World, three: list[Task], data: dict, message: str
) -> None:
    a = three[0]
    before = snapshot(a)

    response = as_user(world.alice).post(
        reverse("task_move", args=[a.pk]), data, **JSON
    )

    assert response.status_code == 400
    assert response.json()["error"].startswith(message)
    assert snapshot(a) == before


def test_move_next_to_a_card_of_another_matter_is_refused(
    as_user, world: World, three: list[Task], walled_task: Task
) -> None:
    a = three[0]
    elsewhere = make_task(
        make_matter(world.firm, "HV-009"),
        "Elsewhere card",
        actor=world.alice,
    )
    before = snapshot(a)
    client = as_user(world.alice)

    for anchor in (elsewhere, walled_task):
        response = client.post(
            reverse("task_move", args=[a.pk]),
            {"status": "TODO", "after_id": anchor.pk},
            **JSON,
        )
        assert response.status_code == 400
        assert response.json() == {
            "error": "The card to place after is not in that column of this board."
        }
    assert snapshot(a) == before
    assert column(world.matter.pk, "TODO") == ["A", "B", "C"]


def test_move_next_to_another_firms_card_is_refused(
    as_user, world: World, three: list[Task], other_task: Task
) -> None:
    a = three[0]
    before = snapshot(a)

    response = as_user(world.alice).post(
        reverse("task_move", args=[a.pk]),
        {"status": "TODO", "before_id": other_task.pk},
        **HTMX,
    )

    assert response.status_code == 400
    assert "not in that column of this board" in response.content.decode()
    assert snapshot(a) == before
    assert snapshot(other_task)["rank"] == other_task.rank


def test_moving_another_firms_or_a_walled_card_is_404_and_moves_nothing(
    as_user, world: World, other_task: Task, walled_task: Task
) -> None:
    before_other, before_walled = snapshot(other_task), snapshot(walled_task)

    other = as_user(world.alice).post(
        reverse("task_move", args=[other_task.pk]), {"status": "DONE"}, **JSON
    )
    walled = as_user(world.walt).post(
        reverse("task_move", args=[walled_task.pk]), {"status": "DONE"}
    )

    assert other.status_code == 404
    assert other.json() == {"error": "No such task."}
    assert walled.status_code == 404
    assert snapshot(other_task) == before_other
    assert snapshot(walled_task) == before_walled


def test_move_is_post_only(as_user, world: World, task: Task) -> None:
    assert (
        as_user(world.alice).get(reverse("task_move", args=[task.pk])).status_code
        == 405
    )


# --- task page ---------------------------------------------------------------------


def test_task_page_shows_the_edit_form_comments_and_a_place_for_history(
    as_user, world: World, task: Task, comment: Comment
) -> None:
    response = as_user(world.alice).get(reverse("task_detail", args=[task.pk]))

    assert response.status_code == 200
    page = response.content.decode()
    assert task.title in page
    assert "First pass done." in page
    assert 'id="task-history"' in page
    assert reverse("board", args=[world.matter.pk]) in page
    form = response.context["form"]
    assert form.initial["assignee"] == world.bob.pk
    assert set(form.fields) == {
        "title",
        "description",
        "status",
        "priority",
        "assignee",
        "reviewer",
        "due_date",
        "milestone",
    }


def test_task_page_offers_only_people_and_milestones_of_the_matter(
    as_user, world: World, walled_task: Task
) -> None:
    Milestone.objects.create(matter=world.matter, name="Open matter milestone")
    walled_milestone = Milestone.objects.create(matter=world.walled, name="Signing")

    response = as_user(world.alice).get(reverse("task_detail", args=[walled_task.pk]))

    form = response.context["form"]
    assert set(form.fields["assignee"].queryset) == {world.alice, world.bob}
    assert list(form.fields["milestone"].queryset) == [walled_milestone]


def test_saving_the_task_form_changes_every_field(
    as_user, world: World, task: Task
) -> None:
    other_milestone = Milestone.objects.create(matter=world.matter, name="Trial")
    due = timezone.localdate() + dt.timedelta(days=9)

    response = as_user(world.carol).post(
        reverse("task_detail", args=[task.pk]),
        task_form(
            task,
            title="Amended particulars",
            description="Add the second claim.",
            status="IN_REVIEW",
            priority="HIGH",
            assignee=world.carol.pk,
            due_date=due.isoformat(),
            milestone=other_milestone.pk,
        ),
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("task_detail", args=[task.pk])
    task.refresh_from_db()
    assert (
        task.title,
        task.description,
        task.status,
        task.priority,
        task.assignee,
        task.due_date,
        task.milestone,
        task.last_modified_by,
    ) == (
        "Amended particulars",
        "Add the second claim.",
        "IN_REVIEW",
        "HIGH",
        world.carol,
        due,
        other_milestone,
        world.carol,
    )


def test_saving_the_task_form_can_clear_optional_fields(
    as_user, world: World, task: Task
) -> None:
    as_user(world.alice).post(
        reverse("task_detail", args=[task.pk]),
        task_form(task, assignee="", milestone="", description=""),
    )

    task.refresh_from_db()
    assert task.assignee is None and task.milestone is None


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("title", "", "This field is required."),
        ("title", "   ", "This field is required."),
        ("title", "x" * 201, "Ensure this value has at most 200 characters"),
        ("status", "LOST", "Select a valid choice. LOST is not one of"),
        ("priority", "MEGA", "Select a valid choice. MEGA is not one of"),
        ("assignee", "abc", "Select a valid choice."),
        ("assignee", "999999", "Select a valid choice."),
        ("milestone", "abc", "Select a valid choice."),
        ("due_date", "31/31/2024", "Enter a valid date."),
        ("description", "x" * 20_001, "Ensure this value has at most 20000"),
    ],
)
def test_bad_task_form_shows_the_error_and_saves_nothing(
    as_user, world: World, task: Task, field: str, value: str, message: str
) -> None:
    before = snapshot(task)

    response = as_user(world.alice).post(
        reverse("task_detail", args=[task.pk]), task_form(task, **{field: value})
    )

    assert response.status_code == 400
    errors = response.context["form"].errors[field]
    assert any(e.startswith(message) for e in errors), errors
    assert snapshot(task) == before


def test_assigning_someone_outside_the_wall_or_firm_is_a_form_error(
    as_user, world: World, walled_task: Task
) -> None:
    before = snapshot(walled_task)
    client = as_user(world.alice)

    for outsider in (world.carol, world.walt, world.oscar):
        response = client.post(
            reverse("task_detail", args=[walled_task.pk]),
            task_form(walled_task, assignee=outsider.pk),
        )
        assert response.status_code == 400
        assert "Select a valid choice" in response.context["form"].errors["assignee"][0]
        assert "Select a valid choice" in response.content.decode()
    assert snapshot(walled_task) == before


def test_choosing_another_matters_milestone_is_a_form_error(
    as_user, world: World, task: Task
) -> None:
    walled_milestone = Milestone.objects.create(matter=world.walled, name="Signing")
    foreign_milestone = Milestone.objects.create(matter=world.other_matter, name="X")
    before = snapshot(task)

    for milestone in (walled_milestone, foreign_milestone):
        response = as_user(world.alice).post(
            reverse("task_detail", args=[task.pk]),
            task_form(task, milestone=milestone.pk),
        )
        assert response.status_code == 400
        assert response.context["form"].errors["milestone"]
    assert snapshot(task) == before


def test_task_page_of_another_firm_or_behind_a_wall_is_404(
    as_user, world: World, other_task: Task, walled_task: Task
) -> None:
    before = snapshot(other_task), snapshot(walled_task)

    assert (
        as_user(world.alice)
        .get(reverse("task_detail", args=[other_task.pk]))
        .status_code
        == 404
    )
    assert (
        as_user(world.alice)
        .post(
            reverse("task_detail", args=[other_task.pk]),
            task_form(other_task, title="Mine"),
        )
        .status_code
        == 404
    )
    walt = as_user(world.walt)
    assert walt.get(reverse("task_detail", args=[walled_task.pk])).status_code == 404
    assert (
        walt.post(
            reverse("task_detail", args=[walled_task.pk]),
            task_form(walled_task, title="Mine"),
        ).status_code
        == 404
    )
    assert (snapshot(other_task), snapshot(walled_task)) == before


def test_deleting_a_task_removes_it_and_returns_to_the_board(
    as_user, world: World, task: Task
) -> None:
    response = as_user(world.alice).post(reverse("task_delete", args=[task.pk]))

    assert response.status_code == 302
    assert response["Location"] == reverse("board", args=[world.matter.pk])
    assert not Task.objects.filter(pk=task.pk).exists()


def test_deleting_another_firms_or_a_walled_task_is_404_and_keeps_it(
    as_user, world: World, other_task: Task, walled_task: Task
) -> None:
    assert (
        as_user(world.alice)
        .post(reverse("task_delete", args=[other_task.pk]))
        .status_code
        == 404
    )
    assert (
        as_user(world.walt)
        .post(reverse("task_delete", args=[walled_task.pk]))
        .status_code
        == 404
    )
    assert Task.objects.filter(pk__in=[other_task.pk, walled_task.pk]).count() == 2


def test_task_delete_is_post_only(as_user, world: World, task: Task) -> None:
    assert (
        as_user(world.alice).get(reverse("task_delete", args=[task.pk])).status_code
        == 405
    )
    assert Task.objects.filter(pk=task.pk).exists()


# --- comments ------------------------------------------------------------------------


def test_adding_a_comment_shows_it_on_the_task_page(
    as_user, world: World, task: Task
) -> None:
    client = as_user(world.carol)

    response = client.post(
        reverse("comment_create", args=[task.pk]), {"body": "  Bundle agreed.  "}
    )

    saved = Comment.objects.get(task=task)
    assert response.status_code == 302
    assert (
        response["Location"]
        == f"{reverse('task_detail', args=[task.pk])}#comment-{saved.pk}"
    )
    assert (saved.author, saved.body) == (world.carol, "Bundle agreed.")
    assert (
        "Bundle agreed."
        in client.get(reverse("task_detail", args=[task.pk])).content.decode()
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("", "A comment cannot be empty."),
        ("   ", "A comment cannot be empty."),
        ("x" * 10_001, "Ensure this value has at most 10000 characters"),
    ],
)
def test_bad_comment_is_a_form_error_and_adds_nothing(
    as_user, world: World, task: Task, body: str, message: str
) -> None:
    response = as_user(world.alice).post(
        reverse("comment_create", args=[task.pk]), {"body": body}
    )

    assert response.status_code == 400
    assert response.context["comment_form"].errors["body"][0].startswith(message)
    assert message in response.content.decode()
    assert not Comment.objects.exists()


def test_commenting_on_another_firms_or_a_walled_task_is_404(
    as_user, world: World, other_task: Task, walled_task: Task
) -> None:
    assert (
        as_user(world.alice)
        .post(reverse("comment_create", args=[other_task.pk]), {"body": "Hi"})
        .status_code
        == 404
    )
    assert (
        as_user(world.walt)
        .post(reverse("comment_create", args=[walled_task.pk]), {"body": "Hi"})
        .status_code
        == 404
    )
    assert not Comment.objects.exists()


def test_editing_my_comment_changes_it_and_marks_it_edited(
    as_user, world: World, comment: Comment
) -> None:
    response = as_user(world.bob).post(
        reverse("comment_edit", args=[comment.pk]), {"body": "Second pass done."}
    )

    assert response.status_code == 302
    comment.refresh_from_db()
    assert comment.body == "Second pass done."
    assert comment.edited_at is not None
    page = (
        as_user(world.bob)
        .get(reverse("task_detail", args=[comment.task_id]))
        .content.decode()
    )
    assert "(edited)" in page


def test_editing_someone_elses_comment_is_403_with_a_reason(
    as_user, world: World, comment: Comment
) -> None:
    response = as_user(world.alice).post(
        reverse("comment_edit", args=[comment.pk]), {"body": "Hijacked"}
    )

    assert response.status_code == 403
    assert "You can only change your own comments." in response.content.decode()
    comment.refresh_from_db()
    assert (comment.body, comment.edited_at) == ("First pass done.", None)


def test_editing_my_comment_to_empty_is_a_form_error(
    as_user, world: World, comment: Comment
) -> None:
    response = as_user(world.bob).post(
        reverse("comment_edit", args=[comment.pk]), {"body": "  "}
    )

    assert response.status_code == 400
    assert "A comment cannot be empty." in response.content.decode()
    assert response.context["editing_comment_id"] == comment.pk
    comment.refresh_from_db()
    assert comment.body == "First pass done."


def test_only_my_comments_offer_edit_and_delete(
    as_user, world: World, comment: Comment
) -> None:
    url = reverse("task_detail", args=[comment.task_id])
    edit_url = reverse("comment_edit", args=[comment.pk])

    assert edit_url in as_user(world.bob).get(url).content.decode()
    assert edit_url not in as_user(world.alice).get(url).content.decode()


def test_deleting_my_comment_hides_it_but_keeps_the_record(
    as_user, world: World, comment: Comment
) -> None:
    client = as_user(world.bob)

    response = client.post(reverse("comment_delete", args=[comment.pk]))

    assert response.status_code == 302
    comment.refresh_from_db()
    assert comment.is_deleted
    page = client.get(reverse("task_detail", args=[comment.task_id])).content.decode()
    assert "First pass done." not in page


def test_deleting_someone_elses_comment_is_403_and_keeps_it(
    as_user, world: World, comment: Comment
) -> None:
    response = as_user(world.alice).post(reverse("comment_delete", args=[comment.pk]))

    assert response.status_code == 403
    assert "You can only change your own comments." in response.content.decode()
    comment.refresh_from_db()
    assert not comment.is_deleted


def test_comments_of_another_firm_or_behind_a_wall_are_404(
    as_user, world: World, other_task: Task, walled_task: Task
) -> None:
    from tasks_app import services

    theirs = services.comment_create(
        actor=world.oscar, task_id=other_task.pk, body="Theirs"
    )
    walled = services.comment_create(
        actor=world.bob, task_id=walled_task.pk, body="Walled"
    )

    for user, c in ((world.alice, theirs), (world.walt, walled)):
        client = as_user(user)
        assert (
            client.post(reverse("comment_edit", args=[c.pk]), {"body": "x"}).status_code
            == 404
        )
        assert client.post(reverse("comment_delete", args=[c.pk])).status_code == 404
    assert list(Comment.objects.order_by("pk").values_list("body", "is_deleted")) == [
        ("Theirs", False),
        ("Walled", False),
    ]


# --- milestones ----------------------------------------------------------------------


def test_milestones_page_shows_progress_from_the_tasks(as_user, world: World) -> None:
    make_task(
        world.matter,
        "Done",
        actor=world.alice,
        milestone=world.milestone,
        status="DONE",
    )
    make_task(world.matter, "Open", actor=world.alice, milestone=world.milestone)
    Milestone.objects.create(matter=world.matter, name="Empty one")

    response = as_user(world.alice).get(reverse("milestones", args=[world.matter.pk]))

    assert response.status_code == 200
    progress = {m.name: m.percent_done for m in response.context["milestones"]}
    assert progress == {"Disclosure": 50, "Empty one": 0}
    page = response.content.decode()
    assert 'value="50"' in page
    assert "1 of 2 tasks done" in page


def test_creating_a_milestone_adds_it_to_the_matter(as_user, world: World) -> None:
    due = timezone.localdate() + dt.timedelta(days=30)

    response = as_user(world.bob).post(
        reverse("milestones", args=[world.matter.pk]),
        {"name": "Trial", "due_date": due.isoformat()},
    )

    assert response.status_code == 302
    created = Milestone.objects.get(name="Trial")
    assert (created.matter, created.due_date, created.created_by) == (
        world.matter,
        due,
        world.bob,
    )


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"name": ""}, "name", "This field is required."),
        ({"name": "x" * 201}, "name", "Ensure this value has at most 200"),
        ({"name": "Trial", "due_date": "soon"}, "due_date", "Enter a valid date."),
    ],
)
def test_bad_milestone_is_a_form_error_and_adds_nothing(
    as_user, world: World, data: dict, field: str, message: str
) -> None:
    response = as_user(world.alice).post(
        reverse("milestones", args=[world.matter.pk]), data
    )

    assert response.status_code == 400
    assert response.context["form"].errors[field][0].startswith(message)
    assert list(Milestone.objects.values_list("name", flat=True)) == ["Disclosure"]


def test_editing_a_milestone_saves_name_and_date(as_user, world: World) -> None:
    client = as_user(world.alice)
    url = reverse("milestone_edit", args=[world.milestone.pk])
    assert client.get(url).status_code == 200

    response = client.post(url, {"name": "Disclosure and inspection", "due_date": ""})

    assert response.status_code == 302
    assert response["Location"] == reverse("milestones", args=[world.matter.pk])
    world.milestone.refresh_from_db()
    assert world.milestone.name == "Disclosure and inspection"
    assert world.milestone.last_modified_by == world.alice


def test_editing_a_milestone_to_an_empty_name_is_a_form_error(
    as_user, world: World
) -> None:
    response = as_user(world.alice).post(
        reverse("milestone_edit", args=[world.milestone.pk]), {"name": " "}
    )

    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    world.milestone.refresh_from_db()
    assert world.milestone.name == "Disclosure"


def test_milestones_of_another_firm_or_behind_a_wall_are_404(
    as_user, world: World
) -> None:
    walled_milestone = Milestone.objects.create(matter=world.walled, name="Signing")
    foreign = Milestone.objects.create(matter=world.other_matter, name="Theirs")

    alice, walt = as_user(world.alice), None
    assert (
        alice.get(reverse("milestones", args=[world.other_matter.pk])).status_code
        == 404
    )
    assert (
        alice.post(
            reverse("milestones", args=[world.other_matter.pk]), {"name": "X"}
        ).status_code
        == 404
    )
    assert alice.get(reverse("milestone_edit", args=[foreign.pk])).status_code == 404
    assert (
        alice.post(
            reverse("milestone_edit", args=[foreign.pk]), {"name": "X"}
        ).status_code
        == 404
    )
    walt = as_user(world.walt)
    assert walt.get(reverse("milestones", args=[world.walled.pk])).status_code == 404
    assert (
        walt.post(
            reverse("milestone_edit", args=[walled_milestone.pk]), {"name": "X"}
        ).status_code
        == 404
    )
    assert sorted(Milestone.objects.values_list("name", flat=True)) == [
        "Disclosure",
        "Signing",
        "Theirs",
    ]


# --- CSRF ----------------------------------------------------------------------------


def test_actions_without_a_csrf_token_are_refused(world: World, task: Task) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.alice)
    before = snapshot(task)

    move = client.post(reverse("task_move", args=[task.pk]), {"status": "DONE"}, **JSON)
    comment = client.post(reverse("comment_create", args=[task.pk]), {"body": "Hi"})

    assert move.status_code == 403
    assert comment.status_code == 403
    assert snapshot(task) == before
    assert not Comment.objects.exists()


def test_actions_with_the_pages_csrf_token_are_accepted(
    world: World, task: Task
) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.alice)
    client.get(reverse("board", args=[world.matter.pk]))
    token = client.cookies["csrftoken"].value

    response = client.post(
        reverse("task_move", args=[task.pk]),
        {"status": "DONE"},
        HTTP_X_CSRFTOKEN=token,
        **JSON,
    )

    assert response.status_code == 200
    assert column(world.matter.pk, "DONE") == [task.title]


# --- admin ---------------------------------------------------------------------------


@pytest.fixture
def admin_client_(client: Client, world: World) -> Client:
    admin = User.objects.create_superuser(
        "root", "root@example.test", "x-long-password"
    )
    client.force_login(admin)
    client.admin_user = admin
    return client


@pytest.mark.parametrize(
    "model",
    [
        "firm",
        "user",
        "membership",
        "matter",
        "milestone",
        "task",
        "comment",
        "taskwatch",
    ],
)
def test_admin_lists_search_and_add_pages_work_for_every_model(
    admin_client_: Client, task: Task, comment: Comment, model: str
) -> None:
    base = f"/admin/tasks_app/{model}/"

    assert admin_client_.get(base).status_code == 200
    assert admin_client_.get(base, {"q": "a"}).status_code == 200
    assert admin_client_.get(base + "add/").status_code == 200


def test_admin_task_save_records_the_admin_as_last_modifier(
    admin_client_: Client, world: World, task: Task
) -> None:
    response = admin_client_.post(
        f"/admin/tasks_app/task/{task.pk}/change/",
        {
            "matter": world.matter.pk,
            "milestone": "",
            "title": "Edited in admin",
            "description": "",
            "status": "DONE",
            "priority": "NORMAL",
            "assignee": world.carol.pk,
            "due_date": "",
            "comments-TOTAL_FORMS": "0",
            "comments-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 302, response.context["adminform"].errors
    task.refresh_from_db()
    assert (task.title, task.status, task.assignee) == (
        "Edited in admin",
        "DONE",
        world.carol,
    )
    assert task.last_modified_by == admin_client_.admin_user
    assert task.rank


def test_admin_refuses_an_assignee_outside_the_wall(
    admin_client_: Client, world: World, walled_task: Task
) -> None:
    response = admin_client_.post(
        f"/admin/tasks_app/task/{walled_task.pk}/change/",
        {
            "matter": world.walled.pk,
            "title": walled_task.title,
            "status": "TODO",
            "priority": "NORMAL",
            "assignee": world.carol.pk,
            "comments-TOTAL_FORMS": "0",
            "comments-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 200
    assert "Carol King cannot see this matter." in response.content.decode()
    walled_task.refresh_from_db()
    assert walled_task.assignee is None


@pytest.mark.parametrize("into", ["matter", "other_matter"])
def test_admin_cannot_move_a_task_across_a_wall_or_a_firm(
    admin_client_: Client, world: World, walled_task: Task, into: str
) -> None:
    response = admin_client_.post(
        f"/admin/tasks_app/task/{walled_task.pk}/change/",
        {
            "matter": getattr(world, into).pk,
            "title": walled_task.title,
            "status": "TODO",
            "priority": "NORMAL",
            "comments-TOTAL_FORMS": "0",
            "comments-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 200
    assert "stays in the matter it was created in" in response.content.decode()
    walled_task.refresh_from_db()
    assert walled_task.matter == world.walled


def test_admin_added_task_goes_to_the_bottom_of_its_column(
    admin_client_: Client, world: World, task: Task
) -> None:
    response = admin_client_.post(
        "/admin/tasks_app/task/add/",
        {
            "matter": world.matter.pk,
            "title": "Added in admin",
            "status": "TODO",
            "priority": "NORMAL",
            "comments-TOTAL_FORMS": "0",
            "comments-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 302
    assert column(world.matter.pk, "TODO") == [task.title, "Added in admin"]
    added = Task.objects.get(title="Added in admin")
    assert added.created_by == added.last_modified_by == admin_client_.admin_user


def test_admin_comment_and_milestone_saves_record_the_admin(
    admin_client_: Client, world: World, comment: Comment
) -> None:
    admin_client_.post(
        f"/admin/tasks_app/comment/{comment.pk}/change/",
        {"task": comment.task_id, "author": world.bob.pk, "body": "Moderated"},
    )
    admin_client_.post(
        f"/admin/tasks_app/milestone/{world.milestone.pk}/change/",
        {"matter": world.matter.pk, "name": "Renamed", "progress": "0"},
    )

    comment.refresh_from_db()
    world.milestone.refresh_from_db()
    assert (comment.body, comment.last_modified_by) == (
        "Moderated",
        admin_client_.admin_user,
    )
    assert (world.milestone.name, world.milestone.last_modified_by) == (
        "Renamed",
        admin_client_.admin_user,
    )


def test_admin_offers_and_accepts_only_the_matters_firm_as_its_team(
    admin_client_: Client, world: World
) -> None:
    url = f"/admin/tasks_app/matter/{world.walled.pk}/change/"
    page = admin_client_.get(url).content.decode()
    team = [m.pk for m in world.walled.team.order_by("pk")]
    response = admin_client_.post(
        url,
        {
            "firm": world.firm.pk,
            "number": world.walled.number,
            "name": world.walled.name,
            "client_name": world.walled.client_name,
            "is_restricted": "on",
            "team-TOTAL_FORMS": "3",
            "team-INITIAL_FORMS": "2",
            "team-MIN_NUM_FORMS": "0",
            "team-MAX_NUM_FORMS": "1000",
            "team-0-id": team[0],
            "team-0-matter": world.walled.pk,
            "team-0-user": world.alice.pk,
            "team-0-role": "RESPONSIBLE_PARTNER",
            "team-1-id": team[1],
            "team-1-matter": world.walled.pk,
            "team-1-user": world.bob.pk,
            "team-1-role": "ASSOCIATE",
            "team-2-matter": world.walled.pk,
            "team-2-user": world.oscar.pk,
            "team-2-role": "ASSOCIATE",
        },
    )

    assert "Oscar Other" not in page  # never offered
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert set(world.walled.members.all()) == {world.alice, world.bob}


def test_a_team_member_of_another_firm_is_refused_by_the_model(world: World) -> None:
    member = MatterMember(matter=world.walled, user=world.oscar)
    with pytest.raises(ValidationError) as error:
        member.full_clean()
    assert "user" in error.value.message_dict


# --- demo data -----------------------------------------------------------------------


def _counts() -> dict[str, int]:
    from tasks_app.models import Firm, Matter, Membership

    models = (Firm, User, Membership, Matter, Milestone, Task, Comment)
    return {m.__name__: m.objects.count() for m in models}


def test_seed_demo_twice_creates_everything_once(db) -> None:
    from django.core.management import call_command

    call_command("seed_demo", history_days=0, stdout=io.StringIO())
    first = _counts()
    out = io.StringIO()
    call_command("seed_demo", history_days=0, stdout=out)

    assert _counts() == first
    assert "nothing changed" in out.getvalue()
    assert "hivelight-demo" in out.getvalue()
    assert first["Firm"] == 2
    statuses = set(Task.objects.values_list("status", flat=True))
    assert statuses == set(Task.Status.values)
    assert Comment.objects.exists()
    assert User.objects.get(username="admin").is_superuser


def test_seeded_demo_wall_keeps_carol_out_and_lets_alice_in(db) -> None:
    from django.core.management import call_command

    call_command("seed_demo", history_days=0, stdout=io.StringIO())
    walled = Matter.objects.get(is_restricted=True)
    alice, carol = Client(), Client()

    assert alice.login(username="alice", password="hivelight-demo")
    assert carol.login(username="carol", password="hivelight-demo")
    assert alice.get(reverse("board", args=[walled.pk])).status_code == 200
    assert carol.get(reverse("board", args=[walled.pk])).status_code == 404
    assert walled.name not in carol.get(reverse("home")).content.decode()
    nina = Client()
    assert nina.login(username="nina", password="hivelight-demo")
    home = nina.get(reverse("home"))
    assert {m.firm.name for m in home.context["matters"]} == {"Northgate Legal"}
