"""The seals' key space: conditional puts, leaf lists over items, reading back."""

from __future__ import annotations

import pytest

from events_app import store
from events_app.store.client import call, paginate

FIRM = "f_1"


def leaves(n: int, day: str = "2023-03-10") -> list[tuple[str, str]]:
    return [
        (
            f"{day}T09:00:{i % 60:02d}.000000Z#0186c4b2-8f00-7000-8000-{i:012d}",
            f"{i:064x}",
        )
        for i in range(n)
    ]


def put(period: str, text: str = '{"seq":1}', hash: str = "a" * 64, n: int = 3):
    return store.put_seal(
        firm=FIRM, period=period, body_text=text, hash=hash, leaves=leaves(n)
    )


def items(prefix: str) -> list[dict]:
    return [
        item
        for item in paginate("scan", TableName=store.table_names().seals)
        if item["pk"]["S"].startswith(prefix)
    ]


def test_ensure_tables_creates_the_seals_table(event_store):
    table = call("describe_table", TableName=event_store.table_names().seals)["Table"]

    assert {k["AttributeName"] for k in table["KeySchema"]} == {"pk", "sk"}


def test_a_seal_is_stored_once_and_never_overwritten(event_store):
    assert put("2023-03-10", '{"seq":1}', "a" * 64)
    assert not put("2023-03-10", '{"seq":99}', "b" * 64, n=5)

    seal = store.get_seal(firm=FIRM, period="2023-03-10")
    assert seal.body == {"seq": 1}
    assert seal.hash == "a" * 64
    assert store.seal_leaves(seal) == leaves(3)
    # The loser's leaf items were removed again.
    assert len(items(f"L#{FIRM}#")) == 1


def test_a_long_leaf_list_is_split_over_items_and_read_back_in_order(
    event_store, monkeypatch
):
    monkeypatch.setattr(store.seals, "LEAVES_PER_ITEM", 7)

    put("2023-03-10", n=30)

    seal = store.get_seal(firm=FIRM, period="2023-03-10")
    assert seal.chunks == 5
    assert len(items(f"L#{FIRM}#")) == 5
    assert store.seal_leaves(seal) == leaves(30)


def test_the_default_item_holds_a_busy_day_well_under_400_kb(event_store):
    text = "".join(f"{sk} {d}\n" for sk, d in leaves(store.seals.LEAVES_PER_ITEM))

    assert len(text.encode()) < 300_000


def test_seals_are_listed_in_chain_order_and_paged_newest_first(event_store):
    for day in ("2023-03-10", "2023-03-11", "2023-03-12", "2023-03-13"):
        put(day, n=0)

    assert [s.period for s in store.seals_between(firm=FIRM)] == [
        "2023-03-10",
        "2023-03-11",
        "2023-03-12",
        "2023-03-13",
    ]
    assert [
        s.period
        for s in store.seals_between(firm=FIRM, first="2023-03-11", last="2023-03-12")
    ] == ["2023-03-11", "2023-03-12"]
    assert store.latest_seal(firm=FIRM).period == "2023-03-13"
    assert store.seal_before(firm=FIRM, period="2023-03-12").period == "2023-03-11"
    assert store.seal_before(firm=FIRM, period="2023-03-10") is None
    first = store.seal_page(firm=FIRM, limit=3)
    assert [s.period for s in first.items] == ["2023-03-13", "2023-03-12", "2023-03-11"]
    rest = store.seal_page(firm=FIRM, limit=3, cursor=first.next_cursor)
    assert [s.period for s in rest.items] == ["2023-03-10"]
    assert store.latest_seal(firm="f_2") is None


def test_a_cursor_of_another_firm_is_refused(event_store):
    for day in ("2023-03-10", "2023-03-11"):
        put(day, n=0)
    cursor = store.seal_page(firm=FIRM, limit=1).next_cursor

    with pytest.raises(store.InvalidCursor):
        store.seal_page(firm="f_2", limit=1, cursor=cursor)


def test_a_damaged_seal_item_is_read_without_failing(event_store):
    put("2023-03-10")
    call(
        "update_item",
        TableName=event_store.table_names().seals,
        Key={"pk": {"S": f"S#{FIRM}"}, "sk": {"S": "P#2023-03-10"}},
        UpdateExpression="SET body = :b, leaves_key = :k REMOVE chunks",
        ExpressionAttributeValues={":b": {"S": "not json"}, ":k": {"S": "x#y"}},
    )

    seal = store.get_seal(firm=FIRM, period="2023-03-10")

    assert seal.body == {}
    assert seal.chunks == 0
    assert store.seal_leaves(seal) == []
