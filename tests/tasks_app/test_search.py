"""Search: what each person finds, in what order, highlighted how, on bad input.

Tests about who finds what run on whichever database the suite uses (the
full-text path on PostgreSQL, word matching on SQLite). Ranking,
highlighting by ts_headline and the stored vectors are PostgreSQL's, and
their tests fail in CI if it is not there.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from tasks_app import services
from tasks_app.models import Comment, Matter, Task, User
from tasks_app.search import (
    MAX_QUERY_LENGTH,
    SearchResults,
    highlight_words,
    query_words,
    search_for_user,
    search_words_for_user,
    typed_prefix,
)
from tests.conftest import service_unavailable
from tests.fixtures.factories import World, make_task, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def postgresql() -> None:
    if connection.vendor != "postgresql":
        service_unavailable("full-text search is PostgreSQL's")


def found(results: SearchResults) -> dict[str, set[int]]:
    return {
        "matters": {h.pk for h in results.matters},
        "tasks": {h.pk for h in results.tasks},
        "comments": {h.pk for h in results.comments},
    }


def shown(results: SearchResults) -> str:
    """Every piece of text the results would put on a page."""
    return " ".join(
        f"{h.title} {h.snippet} {h.matter_label} {h.author} {h.task_title}"
        for group in results.groups
        for h in group.hits
    )


def search(user: User, query: str, limit: int = 20) -> SearchResults:
    return search_for_user(user=user, query=query, limit=limit)


# --- who finds what: every database ---------------------------------------------


@dataclass
class Planted:
    """ "Indemnity" in a matter, a task and a comment of each kind of matter."""

    open_task: Task
    walled_task: Task
    other_task: Task
    open_comment: Comment
    walled_comment: Comment
    other_comment: Comment


@pytest.fixture
def planted(world: World) -> Planted:
    Matter.objects.filter(pk=world.matter.pk).update(client_name="Indemnity Mutual")
    Matter.objects.filter(pk=world.walled.pk).update(
        name="Project Kestrel", client_name="Indemnity Holdings"
    )
    Matter.objects.filter(pk=world.other_matter.pk).update(
        client_name="Indemnity Partners"
    )
    open_task = make_task(world.matter, "Indemnity cap review", actor=world.alice)
    walled_task = make_task(world.walled, "Kestrel indemnity schedule", actor=world.bob)
    other_task = make_task(world.other_matter, "Indemnity letter", actor=world.oscar)
    return Planted(
        open_task=open_task,
        walled_task=walled_task,
        other_task=other_task,
        open_comment=services.comment_create(
            actor=world.carol, task_id=open_task.pk, body="The indemnity is capped."
        ),
        walled_comment=services.comment_create(
            actor=world.bob, task_id=walled_task.pk, body="Kestrel indemnity agreed."
        ),
        other_comment=services.comment_create(
            actor=world.oscar, task_id=other_task.pk, body="Indemnity redlined."
        ),
    )


def _open(world: World, planted: Planted) -> dict[str, set[int]]:
    return {
        "matters": {world.matter.pk},
        "tasks": {planted.open_task.pk},
        "comments": {planted.open_comment.pk},
    }


def _with_walled(world: World, planted: Planted) -> dict[str, set[int]]:
    return {
        "matters": {world.matter.pk, world.walled.pk},
        "tasks": {planted.open_task.pk, planted.walled_task.pk},
        "comments": {planted.open_comment.pk, planted.walled_comment.pk},
    }


@pytest.mark.parametrize("name", ["alice", "bob"])
def test_people_inside_the_wall_find_the_walled_matter_its_tasks_and_comments(
    world: World, planted: Planted, name: str
) -> None:
    results = search(getattr(world, name), "indemnity")

    assert found(results) == _with_walled(world, planted)


@pytest.mark.parametrize("name", ["carol", "walt", "dora", "connie"])
def test_everyone_else_in_the_firm_finds_nothing_behind_the_wall(
    world: World, planted: Planted, connie: User, name: str
) -> None:
    """Firm admins and compliance officers included: search is not audit."""
    person = connie if name == "connie" else getattr(world, name)

    results = search(person, "indemnity")

    assert found(results) == _open(world, planted)
    assert "Kestrel" not in shown(results)
    assert world.walled.number not in shown(results)


def test_a_search_for_the_walled_matters_own_words_finds_nothing_outside_it(
    world: World, planted: Planted
) -> None:
    for query in ("Kestrel", world.walled.number, "indemnity schedule"):
        assert search(world.walt, query).count == 0
        assert search(world.dora, query).count == 0


def test_another_firm_finds_only_its_own(world: World, planted: Planted) -> None:
    results = search(world.oscar, "indemnity")

    assert found(results) == {
        "matters": {world.other_matter.pk},
        "tasks": {planted.other_task.pk},
        "comments": {planted.other_comment.pk},
    }
    assert "Hartley" not in shown(results)


def test_someone_without_a_firm_finds_nothing(world: World, planted: Planted) -> None:
    loner = make_user(None, "loner")

    assert search(loner, "indemnity").count == 0


def test_deleted_comments_are_never_found(world: World, planted: Planted) -> None:
    services.comment_delete(actor=world.carol, comment_id=planted.open_comment.pk)

    results = search(world.alice, "capped")

    assert results.comments == []
    assert (
        planted.open_comment.pk
        not in found(search(world.alice, "indemnity"))["comments"]
    )


def test_a_wall_put_up_later_hides_what_was_found_before(
    world: World, planted: Planted
) -> None:
    assert planted.open_task.pk in found(search(world.walt, "indemnity"))["tasks"]
    world.matter.members.set([world.alice])
    services.matter_set_wall(
        actor=world.alice, matter_id=world.matter.pk, restricted=True
    )

    assert found(search(world.walt, "indemnity")) == {
        "matters": set(),
        "tasks": set(),
        "comments": set(),
    }


def test_closed_matters_are_still_found_and_say_they_are_closed(
    world: World, planted: Planted
) -> None:
    services.matter_close(actor=world.alice, matter_id=world.matter.pk)

    results = search(world.carol, "indemnity")

    assert [h.matter_closed for h in results.tasks] == [True]
    assert [h.matter_closed for h in results.matters] == [True]
    assert [h.matter_closed for h in results.comments] == [True]


def test_each_hit_links_to_its_page(world: World, planted: Planted) -> None:
    results = search(world.carol, "indemnity")

    assert [h.url for h in results.matters] == [f"/matters/{world.matter.pk}/"]
    assert [h.url for h in results.tasks] == [f"/tasks/{planted.open_task.pk}/"]
    assert [h.url for h in results.comments] == [
        f"/tasks/{planted.open_task.pk}/#comment-{planted.open_comment.pk}"
    ]
    [comment] = results.comments
    assert comment.author == "Carol King"
    assert comment.task_title == "Indemnity cap review"


def test_a_matter_is_found_by_its_number_whole_or_in_part(world: World) -> None:
    assert [h.pk for h in search(world.carol, "HV-001").matters] == [world.matter.pk]
    assert [h.pk for h in search(world.carol, "001").matters] == [world.matter.pk]
    assert [h.pk for h in search(world.carol, "hv-001").matters] == [world.matter.pk]


def test_at_most_one_query_per_kind(
    world: World, planted: Planted, django_assert_max_num_queries
) -> None:
    user = User.objects.select_related("membership").get(pk=world.alice.pk)
    with django_assert_max_num_queries(3):
        search(user, "indemnity capped")


def test_limit_keeps_the_best_and_says_there_are_more(world: World) -> None:
    for n in range(4):
        make_task(world.matter, f"Disclosure list {n}", actor=world.alice)

    results = search(world.alice, "disclosure", limit=3)

    assert len(results.tasks) == 3
    assert results.more_tasks is True
    assert results.more_matters is False


# --- bad input: every database -----------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "",
        "   ",
        "&|!:*",
        "() <-> !!",
        "'",
        '"',
        "--",
        "\\",
        "%_",
    ],
)
def test_queries_without_words_find_nothing_and_do_not_fail(
    world: World, planted: Planted, query: str
) -> None:
    assert search(world.alice, query).count == 0


@pytest.mark.parametrize(
    "query",
    [
        "indemnity & | cap",
        "indemnity:* | !cap",
        '"indemnity',
        "indemnity (cap",
        "indemnity <-> cap",
        "indemnity -",
        "'indemnity'",
        "indemnity\\",
        "indemnity%",
    ],
)
def test_operator_characters_are_read_as_text_not_syntax(
    world: World, planted: Planted, query: str
) -> None:
    results = search(world.carol, query)

    assert [h.pk for h in results.tasks] == [planted.open_task.pk]


def test_a_query_over_the_limit_is_refused_with_a_clear_message(world: World) -> None:
    with pytest.raises(ValidationError, match=f"at most {MAX_QUERY_LENGTH}"):
        search(world.alice, "indemnity " * 1000)


# --- PostgreSQL: ranking, highlighting, the stored vectors ---------------------------


def test_a_title_match_ranks_above_a_description_match(
    postgresql: None, world: World
) -> None:
    in_text = make_task(
        world.matter,
        "Review the lease",
        actor=world.alice,
        description="Check the indemnity. The indemnity is wide; indemnity again.",
    )
    in_title = make_task(world.matter, "Indemnity", actor=world.alice)

    results = search(world.alice, "indemnity")

    assert [h.pk for h in results.tasks] == [in_title.pk, in_text.pk]


def test_a_matter_number_ranks_above_a_client_name(
    postgresql: None, world: World
) -> None:
    Matter.objects.filter(pk=world.walled.pk).update(client_name="Client HV-001")

    results = search(world.alice, "HV-001")

    assert [h.pk for h in results.matters] == [world.matter.pk, world.walled.pk]


def test_matched_words_are_marked_in_their_stemmed_forms_too(
    postgresql: None, world: World
) -> None:
    make_task(
        world.matter,
        "Indemnities for the buyer",
        actor=world.alice,
        description="The seller gives an indemnity for tax. " + "Filler words. " * 40,
    )

    [hit] = search(world.alice, "indemnity").tasks

    assert hit.title == "<mark>Indemnities</mark> for the buyer"
    assert "<mark>indemnity</mark> for tax" in hit.snippet
    # A snippet, not the whole description.
    assert len(hit.snippet) < 300


def test_html_in_a_title_is_shown_as_text_never_rendered(
    postgresql: None, world: World
) -> None:
    make_task(
        world.matter,
        '<img src=x onerror="alert(1)"> indemnity for <client>',
        actor=world.alice,
        description="<script>alert(2)</script> indemnity & costs",
    )

    [hit] = search(world.alice, "indemnity").tasks

    assert hit.title == (
        "&lt;img src=x onerror=&quot;alert(1)&quot;&gt; "
        "<mark>indemnity</mark> for &lt;client&gt;"
    )
    # A fragment starts at a word: "<" before the first one is left out.
    assert "script&gt;alert(2)&lt;/script&gt; <mark>indemnity</mark>" in hit.snippet
    assert "<script" not in hit.snippet
    assert "&amp; costs" in hit.snippet


def test_markers_typed_into_the_text_do_not_make_highlights(
    postgresql: None, world: World
) -> None:
    make_task(world.matter, "\ue000Kestrel\ue001 indemnity \ue002b>", actor=world.alice)

    [hit] = search(world.alice, "indemnity").tasks

    assert hit.title == "Kestrel <mark>indemnity</mark> b&gt;"


def test_a_half_typed_last_word_already_finds(postgresql: None, world: World) -> None:
    task = make_task(world.matter, "Instruct counsel on disclosure", actor=world.alice)
    claims = make_task(world.matter, "Claim form", actor=world.alice)

    assert [h.pk for h in search(world.alice, "counsel disclo").tasks] == [task.pk]
    assert [h.pk for h in search(world.alice, "disc").tasks] == [task.pk]
    assert search(world.alice, "counsel disclo").tasks[0].title == (
        "Instruct <mark>counsel</mark> on <mark>disclosure</mark>"
    )
    # A whole word is still matched by its stem.
    assert [h.pk for h in search(world.alice, "claims").tasks] == [claims.pk]


def test_phrases_alternatives_and_exclusions_follow_web_search_rules(
    postgresql: None, world: World
) -> None:
    cap = make_task(world.matter, "Indemnity cap review", actor=world.alice)
    schedule = make_task(world.matter, "Indemnity schedule", actor=world.alice)
    review = make_task(world.matter, "Review cap indemnity", actor=world.alice)

    def tasks(query: str) -> set[int]:
        return {h.pk for h in search(world.alice, query).tasks}

    assert tasks('"indemnity cap"') == {cap.pk}
    assert tasks("indemnity -cap") == {schedule.pk}
    assert tasks("schedule or review") == {cap.pk, schedule.pk, review.pk}
    # Half an expression is no error: the words that make sense are searched.
    assert tasks("indemnity or") == {cap.pk, schedule.pk, review.pk}
    assert tasks("indemnity -") == {cap.pk, schedule.pk, review.pk}


@pytest.fixture
def renamed_check(world: World):
    """Asserts that search finds a task by its new title and not its old one."""

    def check(task: Task) -> None:
        assert search(world.alice, "Garnishee").tasks[0].pk == task.pk
        assert search(world.alice, "Limitation").tasks == []

    return check


def test_the_vector_follows_a_rename_through_the_service(
    postgresql: None, world: World, renamed_check
) -> None:
    task = make_task(world.matter, "Limitation check", actor=world.alice)

    services.task_update(actor=world.alice, task_id=task.pk, title="Garnishee order")

    renamed_check(task)


def test_the_vector_follows_a_rename_saved_on_the_model_as_the_admin_does(
    postgresql: None, world: World, renamed_check
) -> None:
    make_task(world.matter, "Limitation check", actor=world.alice)
    task = Task.objects.get(title="Limitation check")

    task.title = "Garnishee order"
    task.save()

    renamed_check(task)


def test_the_vector_follows_a_queryset_update_and_bulk_update(
    postgresql: None, world: World, renamed_check
) -> None:
    task = make_task(world.matter, "Limitation check", actor=world.alice)
    other = make_task(world.matter, "Other", actor=world.alice)

    Task.objects.filter(pk=task.pk).update(title="Garnishee order")
    renamed_check(task)

    other.description = "Bulk Subrogation"
    Task.objects.bulk_update([other], ["description"])
    assert [h.pk for h in search(world.alice, "subrogation").tasks] == [other.pk]


def test_the_vector_follows_raw_sql_and_bulk_create(
    postgresql: None, world: World, renamed_check
) -> None:
    task = make_task(world.matter, "Limitation check", actor=world.alice)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE tasks_app_task SET title = %s WHERE id = %s",
            ["Garnishee order", task.pk],
        )
    renamed_check(task)

    [made] = Task.objects.bulk_create(
        [Task(matter=world.matter, title="Bulk rescission", rank="zz")]
    )
    assert [h.pk for h in search(world.alice, "rescission").tasks] == [made.pk]


def test_comment_and_matter_vectors_follow_their_services(
    postgresql: None, world: World
) -> None:
    task = make_task(world.matter, "Chase the other side", actor=world.alice)
    comment = services.comment_create(
        actor=world.bob, task_id=task.pk, body="Limitation looks fine."
    )

    services.comment_edit(actor=world.bob, comment_id=comment.pk, body="Estoppel.")
    services.matter_update(
        actor=world.alice,
        matter_id=world.matter.pk,
        number="HV-001",
        name="Smith v Jones",
        client_name="Quistclose Trustees",
    )

    assert [h.pk for h in search(world.alice, "estoppel").comments] == [comment.pk]
    assert search(world.alice, "limitation").comments == []
    assert [h.pk for h in search(world.alice, "Quistclose").matters] == [
        world.matter.pk
    ]


def test_a_stray_value_written_into_the_vector_is_replaced(
    postgresql: None, world: World, renamed_check
) -> None:
    task = make_task(world.matter, "Garnishee order", actor=world.alice)

    Task.objects.filter(pk=task.pk).update(search_vector="limitation")

    renamed_check(task)


# --- the pieces: query reading and the simpler match ---------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("disclo", ("", "disclo")),
        ("counsel disclo", ("counsel", "disclo")),
        ("indemnity -cap sched", ("indemnity -cap", "sched")),
        ("di", None),  # too short to be worth a prefix
        ('"indemnity cap', None),  # inside a phrase
        ("indemnity or sched", None),  # an alternative
        ("cap or indemnity sched", None),
        ("indemnity or", None),
        ("indemnity -cap", None),
        ("cap:*", None),
        ("", None),
    ],
)
def test_typed_prefix_is_only_a_plain_last_word(text: str, expected) -> None:
    assert typed_prefix(text) == expected


def test_query_words_are_the_distinct_words_and_numbers_lowercased() -> None:
    assert query_words("Indemnity CAP indemnity, HV-001 & |!") == [
        "indemnity",
        "cap",
        "hv",
        "001",
    ]
    assert len(query_words(" ".join(f"w{n}" for n in range(50)))) == 8


def test_highlight_words_escapes_and_marks_every_occurrence_in_any_case() -> None:
    marked = highlight_words("<b>Cap</b> the cap & CAP", ["cap"])

    assert marked == (
        "&lt;b&gt;<mark>Cap</mark>&lt;/b&gt; the <mark>cap</mark> "
        "&amp; <mark>CAP</mark>"
    )


def test_highlight_words_marks_the_whole_word_a_match_is_in() -> None:
    assert highlight_words("Disclosure, not closure.", ["disclos"]) == (
        "<mark>Disclosure</mark>, not closure."
    )


def test_highlight_words_takes_regex_characters_literally() -> None:
    assert highlight_words("Costs (a.k.a. fees) 10%", ["a.k.a", "10%"]) == (
        "Costs (<mark>a.k.a</mark>. fees) <mark>10%</mark>"
    )


def test_highlight_words_snippet_is_cut_around_the_first_match_at_spaces() -> None:
    text = " ".join(["filler"] * 60) + " the indemnity clause " + "tail " * 60

    snippet = highlight_words(text, ["indemnity"], around=40)

    assert snippet.startswith("…filler")
    assert snippet.endswith("…")
    assert "<mark>indemnity</mark> clause" in snippet
    assert len(snippet) < 140


def test_highlight_words_snippet_without_a_match_is_the_start() -> None:
    assert highlight_words("Short text.", ["absent"], around=40) == "Short text."


def test_simpler_match_needs_every_word_somewhere_and_puts_newest_first(
    world: World,
) -> None:
    """The SQLite path, run here on whichever database the suite uses."""
    older = make_task(
        world.matter, "Indemnity cap", actor=world.alice, description="For the buyer"
    )
    newer = make_task(world.matter, "Buyer's indemnity", actor=world.alice)
    make_task(world.matter, "Indemnity only", actor=world.alice)
    make_task(world.walled, "Indemnity for the buyer, walled", actor=world.alice)

    results = search_words_for_user(user=world.walt, query="BUYER indemnity", limit=10)

    assert [h.pk for h in results.tasks] == [newer.pk, older.pk]
    assert results.tasks[0].title == "<mark>Buyer</mark>&#x27;s <mark>indemnity</mark>"
    assert results.tasks[1].snippet == "For the <mark>buyer</mark>"
    assert results.fulltext is False
