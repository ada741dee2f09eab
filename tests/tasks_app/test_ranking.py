"""Rank keys: strict order between any two keys, bounded growth, rebalancing."""

from __future__ import annotations

import itertools
import threading
import time

import pytest
from django.db import connection, transaction
from django.db.models.functions import Collate
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tasks_app import services
from tasks_app.models import Task
from tasks_app.ranking import (
    DIGITS,
    MAX_KEY_LENGTH,
    RankError,
    evenly_spaced,
    rank_between,
)
from tests.fixtures.factories import make_task

valid_keys = st.from_regex(r"\A[0-9a-z]{0,11}[1-9a-z]\Z")


def assert_valid(key: str) -> None:
    assert key, "a key is never empty"
    assert not key.endswith("0"), key
    assert set(key) <= set(DIGITS), key


# --- rank_between: pure ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("lo", "hi"),
    [
        (None, None),
        ("", None),
        (None, "1"),
        (None, "01"),
        ("1", "2"),
        ("y", "z"),
        ("z", None),
        ("zzzz", None),
        ("a", "a1"),
        ("a", "a01"),
        ("a0001", "a001"),
        ("hzzz", "i"),
        ("i", "i00001"),
        ("1", "z"),
    ],
)
def test_key_between_neighbours_is_strictly_between_them(lo, hi):
    key = rank_between(lo, hi)

    assert_valid(key)
    assert (lo or "") < key
    assert hi is None or key < hi


@pytest.mark.parametrize(
    ("lo", "hi"),
    [("b", "a"), ("a", "a"), ("a1", "a")],
)
def test_keys_out_of_order_are_refused(lo, hi):
    with pytest.raises(RankError):
        rank_between(lo, hi)


@pytest.mark.parametrize(
    ("lo", "hi"),
    [
        ("a0", None),
        (None, "b0"),
        (None, ""),
        ("A", None),
        (None, "B"),
        ("a", "b-"),
        ("a b", "c"),
        ("é", None),
    ],
)
def test_malformed_keys_are_refused(lo, hi):
    with pytest.raises(RankError):
        rank_between(lo, hi)


@given(st.lists(valid_keys, min_size=2, max_size=2, unique=True))
def test_any_two_keys_have_a_key_strictly_between(pair):
    lo, hi = sorted(pair)

    key = rank_between(lo, hi)

    assert_valid(key)
    assert lo < key < hi


@given(valid_keys)
def test_there_is_always_room_above_and_below_a_key(key):
    above = rank_between(key, None)
    below = rank_between(None, key)

    assert_valid(above)
    assert_valid(below)
    assert below < key < above


@settings(max_examples=200)
@given(st.lists(st.integers(min_value=0, max_value=10_000), max_size=150))
def test_random_inserts_keep_strict_order_and_never_end_in_zero(positions):
    keys: list[str] = []
    for position in positions:
        i = position % (len(keys) + 1)
        lo = keys[i - 1] if i > 0 else None
        hi = keys[i] if i < len(keys) else None

        key = rank_between(lo, hi)

        assert_valid(key)
        assert lo is None or lo < key
        assert hi is None or key < hi
        keys.insert(i, key)
    assert keys == sorted(set(keys))


@pytest.mark.parametrize("direction", ["after_fixed_lower", "before_fixed_upper"])
def test_hundreds_of_inserts_into_one_gap_stay_distinct_and_ordered(direction):
    lo, hi = "i", "j"
    made = []
    for _ in range(500):
        key = rank_between(lo, hi)
        assert lo < key < hi
        made.append(key)
        if direction == "after_fixed_lower":
            hi = key
        else:
            lo = key

    assert len(set(made)) == 500
    assert made == sorted(made, reverse=direction == "after_fixed_lower")
    # About one character per five inserts: strings never lose precision,
    # they grow, which is why columns are rebalanced at MAX_KEY_LENGTH.
    assert max(len(k) for k in made) <= 500 // 4


# --- evenly_spaced --------------------------------------------------------------------


@pytest.mark.parametrize("count", [0, 1, 2, 3, 35, 36, 100, 1_000, 5_000])
def test_evenly_spaced_keys_are_increasing_short_and_leave_room(count):
    keys = evenly_spaced(count)

    assert len(keys) == count
    assert keys == sorted(set(keys))
    for key in keys:
        assert_valid(key)
        assert len(key) <= 4
    bounds = [None, *keys, None]
    for lo, hi in itertools.pairwise(bounds):
        key = rank_between(lo, hi)
        assert len(key) <= 5


# --- ranks in the database ------------------------------------------------------------

COLLATIONS = [None, "C", "und-x-icu", "en-US-x-icu"]


@pytest.mark.django_db
@pytest.mark.parametrize("collation", COLLATIONS)
@settings(
    max_examples=5,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(keys=st.lists(valid_keys, min_size=30, max_size=60, unique=True))
def test_database_orders_keys_as_python_does(world, collation, keys):
    """Services compare keys in Python and query neighbours in SQL: both must agree.

    Beyond the database default, linguistic collations (ICU) that a production
    database may be created with are checked too.
    """
    from django.db import connection

    if collation and connection.vendor != "postgresql":
        pytest.skip("collations are PostgreSQL's")
    Task.objects.filter(matter=world.matter).delete()
    Task.objects.bulk_create(
        Task(matter=world.matter, title=f"k{i}", rank=key) for i, key in enumerate(keys)
    )
    tasks = Task.objects.filter(matter=world.matter)
    if collation:
        tasks = tasks.order_by(Collate("rank", collation))
    else:
        tasks = tasks.order_by("rank")

    assert list(tasks.values_list("rank", flat=True)) == sorted(keys)


def column(matter, status=Task.Status.TODO) -> list[Task]:
    return list(
        Task.objects.filter(matter=matter, status=status).order_by("rank", "id")
    )


@pytest.mark.django_db
def test_hundreds_of_moves_into_one_gap_keep_order_then_rebalance(world):
    """Moving the bottom card to just below the top card, 300 times.

    Every move takes the same gap, so keys grow until one would pass
    MAX_KEY_LENGTH; the column is then rebalanced once to short keys and the
    order the user made is kept throughout.
    """
    cards = [make_task(world.matter, f"card {i}", actor=world.alice) for i in range(6)]
    top = cards[0]
    expected = [c.pk for c in cards]
    longest_seen = 0
    rebalanced_at = None

    for move in range(300):
        moving = expected[-1]
        services.task_move(
            actor=world.alice, task_id=moving, status=Task.Status.TODO, after_id=top.pk
        )
        expected.remove(moving)
        expected.insert(1, moving)

        ranks = [t.rank for t in column(world.matter)]
        assert [t.pk for t in column(world.matter)] == expected, f"move {move}"
        assert len(set(ranks)) == len(ranks)
        assert all(len(r) <= MAX_KEY_LENGTH for r in ranks)
        longest = max(len(r) for r in ranks)
        if longest < longest_seen and rebalanced_at is None:
            rebalanced_at = move
            assert longest <= 3, ranks
        longest_seen = longest

    assert rebalanced_at is not None, "keys never ran long enough to rebalance"
    assert 100 < rebalanced_at < 300


@pytest.mark.django_db
def test_moves_before_the_same_card_rebalance_and_keep_order(world):
    cards = [make_task(world.matter, f"card {i}", actor=world.bob) for i in range(4)]
    last = cards[-1]
    expected = [c.pk for c in cards]

    for _ in range(250):
        moving = expected[0]
        services.task_move(
            actor=world.bob, task_id=moving, status=Task.Status.TODO, before_id=last.pk
        )
        expected.remove(moving)
        expected.insert(len(expected) - 1, moving)
        assert [t.pk for t in column(world.matter)] == expected

    assert max(len(t.rank) for t in column(world.matter)) <= MAX_KEY_LENGTH


@pytest.mark.django_db
def test_appending_hundreds_of_cards_to_one_column_rebalances_instead_of_failing(
    world,
):
    """Each new card goes to the bottom; keys toward the open end grow too."""
    made = [
        services.task_create(actor=world.alice, matter_id=world.matter.pk, title=str(i))
        for i in range(420)
    ]

    ranks = [t.rank for t in column(world.matter)]
    assert [t.pk for t in column(world.matter)] == [t.pk for t in made]
    assert len(set(ranks)) == len(ranks)
    assert max(len(r) for r in ranks) <= MAX_KEY_LENGTH


@pytest.mark.django_db
def test_changing_status_appends_to_a_long_column_without_failing(world):
    done = [
        make_task(world.matter, str(i), status=Task.Status.DONE, actor=world.alice)
        for i in range(3)
    ]
    # The last DONE key is as long as keys may get: one more would be too long.
    for task, rank in zip(done, ["a", "b", "z" * MAX_KEY_LENGTH], strict=True):
        Task.objects.filter(pk=task.pk).update(rank=rank)
    card = make_task(world.matter, "finish me", actor=world.alice)

    services.task_update(actor=world.alice, task_id=card.pk, status=Task.Status.DONE)

    ordered = column(world.matter, Task.Status.DONE)
    assert [t.pk for t in ordered][-1] == card.pk
    assert max(len(t.rank) for t in ordered) <= MAX_KEY_LENGTH


# --- concurrent writers ------------------------------------------------------------


def _in_thread(target) -> threading.Thread:
    def run():
        try:
            target()
        finally:
            connection.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("operation", ["move", "create", "status_change"])
def test_concurrent_writers_into_one_gap_never_share_a_key(
    transactional_db, world, operation
):
    """The first writer holds its transaction open while the second arrives.

    The second must wait for the first to commit and place its card after
    seeing it; reading the column before that commit would give both the same key.
    """
    if connection.vendor != "postgresql":
        pytest.skip("row locks are PostgreSQL's (SQLite serialises all writers)")
    anchor = make_task(world.matter, "anchor", actor=world.alice)
    mover_a = make_task(world.matter, "a", status=Task.Status.DONE, actor=world.alice)
    mover_b = make_task(world.matter, "b", status=Task.Status.DONE, actor=world.alice)
    first_wrote = threading.Event()
    errors: list[BaseException] = []

    def write(task: Task, actor) -> None:
        if operation == "move":
            services.task_move(
                actor=actor,
                task_id=task.pk,
                status=Task.Status.TODO,
                after_id=anchor.pk,
            )
        elif operation == "create":
            services.task_create(
                actor=actor, matter_id=world.matter.pk, title=f"new {task.title}"
            )
        else:
            services.task_update(actor=actor, task_id=task.pk, status=Task.Status.TODO)

    def first() -> None:
        try:
            with transaction.atomic():
                write(mover_a, world.alice)
                first_wrote.set()
                time.sleep(0.5)
        except BaseException as exc:  # surfaced in the test thread
            errors.append(exc)
            first_wrote.set()

    def second() -> None:
        try:
            first_wrote.wait(timeout=10)
            write(mover_b, world.bob)
        except BaseException as exc:
            errors.append(exc)

    threads = [_in_thread(first), _in_thread(second)]
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    ranks = list(
        Task.objects.filter(matter=world.matter, status=Task.Status.TODO).values_list(
            "rank", flat=True
        )
    )
    assert len(ranks) == 3
    assert len(set(ranks)) == 3, ranks
