"""Writing events: once each, with their counters, in few transactions.

Every event is a conditional put on its key (`attribute_not_exists(pk)`) in
the same TransactWriteItems as its counter increments, so an event
delivered again is reported as a duplicate and neither stored nor counted
twice. Events whose names expire (`task.viewed`, via TTL) are stored but not
counted. An event of a matter also counts in the matter's counters
(`names.is_counted_on_matter`), in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import random
import re
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError
from django.conf import settings

from events_app.envelope import parse_instant
from events_app.names import EXPIRING, is_counted, is_counted_on_matter
from events_app.store.client import (
    THROTTLING,
    StoreError,
    StoreUnavailable,
    call,
    table_names,
)
from events_app.store.codec import (
    FIELDS,
    check_name,
    dumps,
    entity_pk,
    firm_month_pk,
    indexed_entity,
    matter_pk,
    name_pk,
    to_av,
    user_pk,
)
from events_app.store.counters import counter_updates
from events_app.store.tables import TTL_ATTRIBUTE

# DynamoDB limits (with margin): 100 actions and 4 MB per transaction, 4 KB
# per expression string, 300 operators per update expression.
MAX_TRANSACT_ITEMS = 100
MAX_TRANSACT_BYTES = 3_000_000
MAX_COUNTER_ATTRS = 200
MAX_EVENT_BYTES = 350_000
CONFLICT_RETRIES = 6
# Transactions in flight at once within one put_events call.
WRITE_CONCURRENCY = 8
_REQUIRED = ("id", "name", "version", "occurred_at", "firm", "actor", "subject")
_INSTANT_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")


@dataclass
class PutResult:
    """Outcome of `put_events`: each input id is in exactly one list."""

    written: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)


@dataclass
class _Prepared:
    id: str
    item: dict[str, Any]
    size: int
    counters: list[tuple[tuple[str, str], tuple[str, ...]]]


def _validate(event: dict[str, Any]) -> None:
    if not isinstance(event, dict):
        raise ValueError(f"an event must be a dict, got {type(event).__name__}")
    ident = event.get("id")
    missing = [key for key in _REQUIRED if key not in event]
    if missing:
        raise ValueError(f"event {ident!r} lacks {', '.join(missing)}")
    if not isinstance(ident, str) or not ident:
        raise ValueError(f"event id {ident!r} must be a non-empty string")
    check_name(event["name"])
    occurred_at = event["occurred_at"]
    if not isinstance(occurred_at, str) or not _INSTANT_RE.match(occurred_at):
        raise ValueError(
            f"event {ident}: occurred_at {occurred_at!r} must be "
            "YYYY-MM-DDTHH:MM:SS.ffffffZ (UTC)"
        )
    parse_instant(occurred_at)
    for key in ("actor", "subject"):
        if not isinstance(event[key], dict):
            raise ValueError(f"event {ident}: {key} must be a dict")
    if "type" not in event["subject"] or "id" not in event["subject"]:
        raise ValueError(f"event {ident}: subject needs type and id")
    matter = event.get("matter")
    if matter is not None and (not isinstance(matter, dict) or "id" not in matter):
        raise ValueError(f"event {ident}: matter must be None or a dict with an id")
    parent = event.get("parent")
    if parent is not None and (
        not isinstance(parent, dict) or "type" not in parent or "id" not in parent
    ):
        raise ValueError(f"event {ident}: parent must be None or a dict with type, id")


def _expires_at(event: dict[str, Any]) -> int | None:
    if event["name"] not in EXPIRING:
        return None
    days = int(getattr(settings, "TASK_VIEWED_RETENTION_DAYS", 90))
    occurred = parse_instant(event["occurred_at"])
    return int((occurred + dt.timedelta(days=days)).timestamp())


def _prepare(event: dict[str, Any]) -> _Prepared:
    _validate(event)
    firm = event["firm"]
    occurred_at = event["occurred_at"]
    sk = f"{occurred_at}#{event['id']}"
    actor_id = event["actor"].get("id")
    subject = event["subject"]
    matter = event.get("matter")
    indexed = indexed_entity(event)
    item: dict[str, Any] = {
        "pk": {"S": user_pk(firm, actor_id)},
        "sk": {"S": sk},
        "gsi1pk": {"S": entity_pk(firm, indexed["type"], indexed["id"])},
        "gsi1sk": {"S": sk},
        "gsi3pk": {"S": name_pk(firm, event["name"])},
        "gsi3sk": {"S": sk},
        "gsi4pk": {"S": firm_month_pk(firm, occurred_at[:7])},
        "gsi4sk": {"S": sk},
        "ev_id": {"S": event["id"]},
        "ev_name": {"S": event["name"]},
        "ev_version": to_av(event["version"]),
        "occurred_at": {"S": occurred_at},
        "firm": {"S": firm},
        "actor": to_av(event["actor"]),
        "subject": to_av(subject),
        "changes": {"S": dumps(event.get("changes", {}))},
        "context": {"S": dumps(event.get("context", {}))},
    }
    if matter is not None:
        item["gsi2pk"] = {"S": matter_pk(firm, matter["id"])}
        item["gsi2sk"] = {"S": sk}
        item["matter"] = to_av(matter)
    extra = {k: v for k, v in event.items() if k not in FIELDS}
    if extra:
        item["ev_extra"] = {"S": dumps(extra)}
    expires_at = _expires_at(event)
    if expires_at is not None:
        item[TTL_ATTRIBUTE] = {"N": str(expires_at)}
    # Keys, attribute names and type tags add well under 1 KB to the JSON.
    size = len(dumps(event).encode()) + 1024
    if size > MAX_EVENT_BYTES:
        raise ValueError(
            f"event {event['id']} is {size} bytes; DynamoDB items hold 400 KB"
        )
    counters = (
        counter_updates(item["pk"]["S"], event["name"], occurred_at)
        if is_counted(event["name"])
        else []
    )
    if matter is not None and is_counted_on_matter(event["name"]):
        counters += counter_updates(
            item["gsi2pk"]["S"], event["name"], occurred_at, by_name=False
        )
    return _Prepared(event["id"], item, size, counters)


def _pack(prepared: Sequence[_Prepared]) -> Iterator[list[_Prepared]]:
    """Split events, in order, into groups that fit one TransactWriteItems.

    A group counts one action per event plus one per distinct counter item
    (a transaction may touch an item once, so counter updates are merged),
    and keeps each merged counter update under MAX_COUNTER_ATTRS attributes
    (a day item has at most 32, so this only guards future layouts).
    """
    group: list[_Prepared] = []
    counters: dict[tuple[str, str], set[str]] = {}
    size = 0
    for p in prepared:
        new_keys = {key for key, _ in p.counters if key not in counters}
        widest = max(
            (len(counters.get(key, set()).union(attrs)) for key, attrs in p.counters),
            default=0,
        )
        fits = (
            len(group) + 1 + len(counters) + len(new_keys) <= MAX_TRANSACT_ITEMS
            and size + p.size <= MAX_TRANSACT_BYTES
            and widest <= MAX_COUNTER_ATTRS
        )
        if group and not fits:
            yield group
            group, counters, size = [], {}, 0
        group.append(p)
        size += p.size
        for key, attrs in p.counters:
            counters.setdefault(key, set()).update(attrs)
    if group:
        yield group


def _transact_items(group: Sequence[_Prepared]) -> list[dict[str, Any]]:
    names = table_names()
    events_table, counts_table = names.events, names.counts
    actions: list[dict[str, Any]] = [
        {
            "Put": {
                "TableName": events_table,
                "Item": p.item,
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
        for p in group
    ]
    merged: dict[tuple[str, str], Counter[str]] = {}
    for p in group:
        for key, attrs in p.counters:
            merged.setdefault(key, Counter()).update(attrs)
    for (pk, sk), deltas in merged.items():
        values: dict[str, Any] = {":one": {"N": "1"}}
        clauses = ["v :one"]
        for attr, delta in deltas.items():
            placeholder = f":n{delta}"
            values[placeholder] = {"N": str(delta)}
            clauses.append(f"{attr} {placeholder}")
        actions.append(
            {
                "Update": {
                    "TableName": counts_table,
                    "Key": {"pk": {"S": pk}, "sk": {"S": sk}},
                    # v counts the writes to the item (recount_user's guard).
                    "UpdateExpression": "ADD " + ", ".join(clauses),
                    "ExpressionAttributeValues": values,
                }
            }
        )
    return actions


def _write_group(group: list[_Prepared], result: PutResult) -> None:
    """Write one group atomically; duplicates are dropped and the rest retried."""
    remaining = group
    conflicts = 0
    while remaining:
        try:
            call("transact_write_items", TransactItems=_transact_items(remaining))
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "TransactionCanceledException":
                raise StoreError(f"event store refused a write: {exc}") from exc
            reasons = exc.response.get("CancellationReasons") or []
            if not reasons:
                if len(remaining) == 1:
                    raise StoreError(f"event store refused a write: {exc}") from exc
                # A store that does not say which put failed: one at a time.
                for p in remaining:
                    _write_group([p], result)
                return
            codes = [r.get("Code") or "None" for r in reasons]
            failed = {
                i
                for i, code in enumerate(codes[: len(remaining)])
                if code == "ConditionalCheckFailed"
            }
            others = {c for c in codes if c not in ("None", "ConditionalCheckFailed")}
            if failed:
                result.duplicates.extend(remaining[i].id for i in sorted(failed))
                remaining = [p for i, p in enumerate(remaining) if i not in failed]
                continue
            if others <= {"TransactionConflict"} and conflicts < CONFLICT_RETRIES:
                # Another writer holds a counter item of this group; back off.
                conflicts += 1
                time.sleep(random.uniform(0, 0.05 * 2**conflicts))
                continue
            if others & ({"TransactionConflict"} | THROTTLING):
                raise StoreUnavailable(f"event store busy: {codes}") from exc
            raise StoreError(f"event store refused a write: {codes}") from exc
        result.written.extend(p.id for p in remaining)
        return


def _lanes(groups: list[list[_Prepared]]) -> list[list[list[_Prepared]]]:
    """Groups joined, in order, into lanes that share no counter item.

    Two transactions in flight on one item conflict, and a busy matter's
    counters are touched by every actor's group: written at once, they
    retried each other into StoreUnavailable. Groups sharing an item, even
    through a third, go in one lane, written one after another; lanes run
    side by side.
    """
    parent = list(range(len(groups)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first_group: dict[tuple[str, str], int] = {}
    for i, group in enumerate(groups):
        for p in group:
            for key, _ in p.counters:
                parent[root(i)] = root(first_group.setdefault(key, i))
    lanes: dict[int, list[list[_Prepared]]] = {}
    for i, group in enumerate(groups):
        lanes.setdefault(root(i), []).append(group)
    return list(lanes.values())


def _write_lane(lane: list[list[_Prepared]], result: PutResult) -> None:
    for group in lane:
        _write_group(group, result)


def put_events(events: Sequence[dict[str, Any]]) -> PutResult:
    """Store events once each, with their activity counters, in few transactions.

    Guarantees: every event is written with a conditional put on its key in
    the same TransactWriteItems as its counter increments, so an event
    delivered again (same envelope) is reported in `duplicates` and neither
    stored nor counted twice. Events are packed into transactions of at
    most 100 actions, grouped by counter partition (the actor) and in input
    order within it, so one actor's events share their counter items' updates
    (merged: one update per item per transaction); transactions that share
    a counter item (a matter's, whoever acted) are written one after another,
    others concurrently. A transaction cancelled by
    duplicates is retried without them. On StoreUnavailable (unreachable,
    throttled) or StoreError some groups may already be written; calling
    again with the same events is safe. Invalid events raise ValueError
    before anything is written.
    """
    result = PutResult()
    prepared: list[_Prepared] = []
    seen: set[str] = set()
    for event in events:
        p = _prepare(event)
        if p.id in seen:
            result.duplicates.append(p.id)
            continue
        seen.add(p.id)
        prepared.append(p)
    prepared.sort(key=lambda p: p.item["pk"]["S"])  # stable: input order kept
    lanes = _lanes(list(_pack(prepared)))
    if len(lanes) <= 1 or WRITE_CONCURRENCY <= 1:
        for lane in lanes:
            _write_lane(lane, result)
        return result
    # DynamoDB spends most of a transaction's time on its own side, so a few
    # lanes in flight at once multiply throughput; another writer (a second
    # relay) touching a lane's counter item is a TransactionConflict, which
    # _write_group retries. The client is thread-safe; list.append is atomic.
    with ThreadPoolExecutor(max_workers=min(WRITE_CONCURRENCY, len(lanes))) as pool:
        for future in [pool.submit(_write_lane, lane, result) for lane in lanes]:
            future.result()
    return result
