"""Creating, upgrading and deleting the event store's tables."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from events_app.store.client import (
    StoreError,
    StoreUnavailable,
    call,
    paginate,
    table_names,
)
from events_app.store.codec import (
    INDEXES,
    entity_pk,
    firm_month_pk,
    from_av,
    indexed_entity,
)

logger = logging.getLogger(__name__)

TTL_ATTRIBUTE = "expires_at"


def _events_table_spec(name: str) -> dict[str, Any]:
    attributes = [a for key in INDEXES.values() for a in key]
    return {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": a, "AttributeType": "S"} for a in attributes
        ],
        "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [
            _gsi_spec(index) for index in INDEXES if index is not None
        ],
    }


def _gsi_spec(index: str) -> dict[str, Any]:
    pk, sk = INDEXES[index]
    return {
        "IndexName": index,
        "KeySchema": [
            {"AttributeName": pk, "KeyType": "HASH"},
            {"AttributeName": sk, "KeyType": "RANGE"},
        ],
        # History, feeds and audit read whole events from the index.
        "Projection": {"ProjectionType": "ALL"},
    }


def _plain_table_spec(name: str) -> dict[str, Any]:
    """A table keyed by string pk and sk, no index (counters, seals)."""
    return {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
    }


def _describe(name: str) -> dict[str, Any] | None:
    try:
        return call("describe_table", TableName=name)["Table"]
    except StoreError as exc:
        if isinstance(exc, StoreUnavailable):
            raise
        return None


def _wait_active(name: str, timeout: float = 600.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        table = _describe(name)
        if table is not None and table["TableStatus"] == "ACTIVE":
            indexes = table.get("GlobalSecondaryIndexes", [])
            if all(i.get("IndexStatus", "ACTIVE") == "ACTIVE" for i in indexes):
                return table
        if time.monotonic() > deadline:
            raise StoreError(f"table {name} not ACTIVE after {timeout:.0f}s")
        time.sleep(delay)
        delay = min(delay * 2, 5.0)


def _create_table(spec: dict[str, Any]) -> None:
    try:
        call("create_table", **spec)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceInUseException":
            raise


def ensure_tables() -> None:
    """Create the tables, their indexes and TTL if missing; safe to run again.

    Waits until the tables and indexes are ACTIVE. An existing events table
    missing an index gets it added (one index at a time, as DynamoDB allows)
    and its events re-keyed for the current layout (`reindex_events`).
    """
    names = table_names()
    spec = _events_table_spec(names.events)
    if _describe(names.events) is None:
        _create_table(spec)
    table = _wait_active(names.events)
    present = {i["IndexName"] for i in table.get("GlobalSecondaryIndexes", [])}
    added = False
    for index in INDEXES:
        if index is None or index in present:
            continue
        call(
            "update_table",
            TableName=names.events,
            AttributeDefinitions=spec["AttributeDefinitions"],
            GlobalSecondaryIndexUpdates=[{"Create": _gsi_spec(index)}],
        )
        _wait_active(names.events)
        added = True
    if added:
        fixed = reindex_events()
        if fixed:
            logger.info("re-keyed %d stored events for the current layout", fixed)
    ttl = call("describe_time_to_live", TableName=names.events)
    status = ttl.get("TimeToLiveDescription", {}).get("TimeToLiveStatus")
    if status not in ("ENABLED", "ENABLING"):
        call(
            "update_time_to_live",
            TableName=names.events,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
        )
    for plain in (names.counts, names.seals):
        if _describe(plain) is None:
            _create_table(_plain_table_spec(plain))
        _wait_active(plain)


def delete_tables() -> None:
    """Delete the store's tables (tests and benchmarks); missing ones are fine."""
    for name in table_names():
        try:
            call("delete_table", TableName=name)
        except StoreError as exc:
            if isinstance(exc, StoreUnavailable):
                raise


def reindex_events(*, on_item: Callable[[], None] | None = None) -> int:
    """Give every stored event the index keys of the current layout.

    For events written under an older layout: comment events move into
    their task's history (gsi1pk of the parent), and every event joins the
    firm's month index (gsi4pk). Scans the whole table once; an event
    already right is not written. Safe to run again or concurrently with
    writes (each update only sets derived keys). Returns how many events
    were re-keyed; `on_item()` is called per event scanned (progress).
    """
    request: dict[str, Any] = {
        "TableName": table_names().events,
        "ProjectionExpression": "pk, sk, gsi1pk, gsi4pk, firm, subject, ev_extra",
    }
    fixed = 0
    for item in paginate("scan", **request):
        if on_item is not None:
            on_item()
        firm = item["firm"]["S"]
        sk = item["sk"]["S"]
        extra = json.loads(item["ev_extra"]["S"]) if "ev_extra" in item else {}
        event = {"subject": from_av(item["subject"]), "parent": extra.get("parent")}
        indexed = indexed_entity(event)
        gsi1pk = entity_pk(firm, indexed["type"], indexed["id"])
        gsi4pk = firm_month_pk(firm, sk[:7])
        current = (item.get("gsi1pk", {}).get("S"), item.get("gsi4pk", {}).get("S"))
        if current == (gsi1pk, gsi4pk):
            continue
        try:
            call(
                "update_item",
                TableName=table_names().events,
                Key={"pk": item["pk"], "sk": item["sk"]},
                UpdateExpression="SET gsi1pk = :g1, gsi4pk = :g4, gsi4sk = :sk",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={
                    ":g1": {"S": gsi1pk},
                    ":g4": {"S": gsi4pk},
                    ":sk": {"S": sk},
                },
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            continue  # expired (TTL) meanwhile
        fixed += 1
    return fixed
