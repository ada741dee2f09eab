"""Storing seals: one head item per firm and period, its leaf list beside it.

Table `<prefix>Seals`, two kinds of item (keys in `codec`):

    pk `S#<firm>`, sk `P#<YYYY-MM-DD>`: a period's seal (its head)
        body        the seal as canonical JSON text (what its hash is over)
        hash        hex SHA-256 of the body
        leaves_key  the token naming its leaf list
        chunks      how many items the leaf list is split over
    pk `L#<firm>#<token>`, sk `00000`, `00001`, ...: a seal's leaf list
        leaves      text, one line per leaf in tree order: `<sk> <digest hex>\\n`
                    (`sk` is the event's `<occurred_at>#<id>`)

A busy day's leaf list is split over items of LEAVES_PER_ITEM lines (about
130 bytes each, well under DynamoDB's 400 KB per item). The leaf items are
written first under a token of this attempt, then the head with a
conditional put (`attribute_not_exists(pk)`): the head is the commit point.
A seal is never overwritten: a second writer's put fails, its leaf items
are deleted and it is told so (`put_seal` returns False). Leaf items left by
a writer that died before its head are never read (no head names them).
The token is random, so a head moved to another key still finds its own
leaves, and verification can say "moved" rather than "emptied".

This module stores and reads; what a seal means is `events_app.seals`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from events_app.store.client import call, paginate, table_names
from events_app.store.codec import (
    decode_cursor,
    decode_event,
    encode_cursor,
    firm_month_pk,
    leaves_pk,
    query_scope,
    seal_pk,
    seal_sk,
)

LEAVES_PER_ITEM = 2000


@dataclass(frozen=True)
class StoredSeal:
    """A seal's head as stored. `body` is {} if the stored text is not JSON."""

    firm: str
    period: str
    body: dict[str, Any]
    hash: str
    leaves_key: str
    chunks: int


@dataclass(frozen=True)
class SealPage:
    items: list[StoredSeal]
    next_cursor: str | None


def _decode_head(item: dict[str, Any]) -> StoredSeal:
    """A head item, read defensively: verification must report a damaged
    seal, not crash on it."""
    firm = item["pk"]["S"].removeprefix("S#")
    period = item["sk"]["S"].removeprefix("P#")
    try:
        body = json.loads(item.get("body", {}).get("S", ""))
    except ValueError:
        body = {}
    try:
        chunks = int(item.get("chunks", {}).get("N", "0"))
    except ValueError:
        chunks = 0
    return StoredSeal(
        firm=firm,
        period=period,
        body=body if isinstance(body, dict) else {},
        hash=item.get("hash", {}).get("S", ""),
        leaves_key=item.get("leaves_key", {}).get("S", ""),
        chunks=chunks,
    )


def _leaf_items(leaves: Sequence[tuple[str, str]]) -> list[str]:
    return [
        "".join(f"{sk} {digest}\n" for sk, digest in leaves[i : i + LEAVES_PER_ITEM])
        for i in range(0, len(leaves), LEAVES_PER_ITEM)
    ]


def put_seal(
    *,
    firm: str,
    period: str,
    body_text: str,
    hash: str,
    leaves: Sequence[tuple[str, str]],
) -> bool:
    """Store a period's seal unless one exists; True if this call stored it.

    `leaves` are (sk, digest hex) in tree order. Never overwrites: if the
    period is already sealed, this attempt's leaf items are removed and
    False is returned (the caller re-reads the chain).
    """
    table = table_names().seals
    token = uuid.uuid4().hex
    partition = leaves_pk(firm, token)
    texts = _leaf_items(leaves)
    for number, text in enumerate(texts):
        call(
            "put_item",
            TableName=table,
            Item={
                "pk": {"S": partition},
                "sk": {"S": f"{number:05d}"},
                "leaves": {"S": text},
            },
        )
    try:
        call(
            "put_item",
            TableName=table,
            Item={
                "pk": {"S": seal_pk(firm)},
                "sk": {"S": seal_sk(period)},
                "body": {"S": body_text},
                "hash": {"S": hash},
                "leaves_key": {"S": token},
                "chunks": {"N": str(len(texts))},
            },
            ConditionExpression="attribute_not_exists(pk)",
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
        for number in range(len(texts)):
            call(
                "delete_item",
                TableName=table,
                Key={"pk": {"S": partition}, "sk": {"S": f"{number:05d}"}},
            )
        return False
    return True


def _query_heads(firm: str, **kwargs: Any) -> dict[str, Any]:
    return {
        "TableName": table_names().seals,
        "ConsistentRead": True,
        "ExpressionAttributeValues": {":pk": {"S": seal_pk(firm)}},
        **kwargs,
    }


def latest_seal(*, firm: str) -> StoredSeal | None:
    """The newest seal of a firm's chain (its head), or None."""
    return seal_before(firm=firm, period=None)


def seal_before(*, firm: str, period: str | None) -> StoredSeal | None:
    """The newest seal of a period before `period` (None: of any period)."""
    request = _query_heads(
        firm,
        KeyConditionExpression="pk = :pk",
        ScanIndexForward=False,
        Limit=1,
    )
    if period is not None:
        request["KeyConditionExpression"] += " AND sk < :sk"
        request["ExpressionAttributeValues"][":sk"] = {"S": seal_sk(period)}
    items = call("query", **request).get("Items", [])
    return _decode_head(items[0]) if items else None


def get_seal(*, firm: str, period: str) -> StoredSeal | None:
    item = call(
        "get_item",
        TableName=table_names().seals,
        Key={"pk": {"S": seal_pk(firm)}, "sk": {"S": seal_sk(period)}},
        ConsistentRead=True,
    ).get("Item")
    return _decode_head(item) if item else None


def seals_between(
    *, firm: str, first: str | None = None, last: str | None = None
) -> Iterator[StoredSeal]:
    """A firm's seals of periods `first`..`last` (labels, inclusive), in order."""
    request = _query_heads(firm, KeyConditionExpression="pk = :pk")
    values = request["ExpressionAttributeValues"]
    values[":lo"] = {"S": seal_sk(first) if first else "P#"}
    values[":hi"] = {"S": seal_sk(last) if last else "P#~"}
    request["KeyConditionExpression"] += " AND sk BETWEEN :lo AND :hi"
    for item in paginate("query", **request):
        yield _decode_head(item)


def seal_page(*, firm: str, limit: int = 50, cursor: str | None = None) -> SealPage:
    """A page of a firm's seals, newest first, with a signed cursor."""
    if not isinstance(limit, int) or not 1 <= limit <= 1000:
        raise ValueError(f"limit must be an integer from 1 to 1000, got {limit!r}")
    request = _query_heads(
        firm, KeyConditionExpression="pk = :pk", ScanIndexForward=False, Limit=limit
    )
    scope = query_scope("seals", firm)
    if cursor:
        request["ExclusiveStartKey"] = decode_cursor(cursor, scope, {"pk", "sk"})
    response = call("query", **request)
    last = response.get("LastEvaluatedKey")
    return SealPage(
        [_decode_head(item) for item in response.get("Items", [])],
        encode_cursor(last, scope) if last else None,
    )


def seal_leaves(seal: StoredSeal) -> list[tuple[str, str]]:
    """A seal's leaf list, (sk, digest hex) in tree order, as stored.

    Reads every item of its partition, so an item added or removed behind
    the store's back changes the list (and its index hash no longer matches).
    A line that is not `<sk> <digest>` comes back as (line, "").
    """
    try:
        partition = leaves_pk(seal.firm, seal.leaves_key)
    except ValueError:  # no token, or one that cannot be a key
        return []
    request = {
        "TableName": table_names().seals,
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": {"S": partition}},
        "ConsistentRead": True,
    }
    leaves: list[tuple[str, str]] = []
    for item in paginate("query", **request):
        for line in item.get("leaves", {}).get("S", "").splitlines():
            sk, _, digest = line.partition(" ")
            leaves.append((sk, digest) if digest else (line, ""))
    return leaves


def events_at(*, firm: str, sks: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Events by their sort key (`<occurred_at>#<id>`): sk -> event, if stored.

    Through the firm index, whose key holds the firm, month and sk, so an
    event is found without knowing its actor. For the few late events of a
    seal; a missing sk is simply absent from the answer.
    """
    found: dict[str, dict[str, Any]] = {}
    for sk in sks:
        response = call(
            "query",
            TableName=table_names().events,
            IndexName="gsi4_firm",
            KeyConditionExpression="gsi4pk = :pk AND gsi4sk = :sk",
            ExpressionAttributeValues={
                ":pk": {"S": firm_month_pk(firm, sk[:7])},
                ":sk": {"S": sk},
            },
        )
        for item in response.get("Items", []):
            found[sk] = decode_event(item, None)
    return found
