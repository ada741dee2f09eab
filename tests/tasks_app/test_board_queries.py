"""The board costs the same number of SQL queries however many cards it holds."""

from __future__ import annotations

import itertools

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tasks_app.models import Matter, Milestone, Task
from tests.fixtures.factories import World, make_matter, make_task

pytestmark = pytest.mark.django_db


def _fill(world: World, matter: Matter, count: int) -> None:
    """Cards in every column, with and without assignees and milestones."""
    milestones = [
        Milestone.objects.create(matter=matter, name=f"Stage {i}") for i in range(3)
    ]
    people = [world.alice, world.bob, world.carol, None]
    statuses = itertools.cycle(Task.Status.values)
    for i in range(count):
        make_task(
            matter,
            f"Card {i}",
            actor=world.alice,
            status=next(statuses),
            assignee=people[i % len(people)],
            milestone=milestones[i % 4] if i % 4 < 3 else None,
        )


def _queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize(
    ("view", "params"),
    [
        ("board", {}),
        ("board", {"assignee": "none"}),
        ("board_columns", {}),
    ],
)
def test_board_query_count_is_the_same_for_10_and_500_cards(
    client: Client, world: World, view: str, params: dict
) -> None:
    small, large = world.matter, make_matter(world.firm, "HV-500")
    _fill(world, small, 10)
    _fill(world, large, 500)
    client.force_login(world.bob)
    small_url = reverse(view, args=[small.pk])
    large_url = reverse(view, args=[large.pk])
    query = "?" + "&".join(f"{k}={v}" for k, v in params.items()) if params else ""
    client.get(small_url)  # warm the session and any per-process caches

    small_count = _queries(client, small_url + query)
    large_count = _queries(client, large_url + query)

    assert small_count == large_count
    assert large_count <= 12
    assert Task.objects.filter(matter=large).count() == 500
