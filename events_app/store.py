"""The event store: events and activity counters in DynamoDB (the only boto3 user).

Tables (names take `settings.EVENT_STORE["TABLE_PREFIX"]`):

`<prefix>Events`, one item per event:
    pk      `U#<firm>#<actor id or "system">`   a user's activity
    sk      `<occurred_at>#<id>`                 time order, unique
    gsi1pk  `E#<firm>#<type>#<id>` of the event's `parent` if it has one
            (comments: their task), else of its subject (index gsi1_entity):
            a task's history holds its comments' events, interleaved in
            time; a comment's own history is its task's, filtered to it
    gsi2pk  `M#<firm>#<matter id>`  (index gsi2_matter; only with a matter)
    gsi3pk  `N#<firm>#<name>`       (index gsi3_name)
    gsi4pk  `F#<firm>#<YYYY-MM>`    (index gsi4_firm; the UTC month of
            occurred_at): a firm's events by date range, any user and name,
            read month by month (audit)
    gsi1sk / gsi2sk / gsi3sk / gsi4sk = sk
    envelope: ev_id, ev_name, ev_version, occurred_at, firm, actor (map),
    subject (map), matter (map, absent when None), changes and context (JSON
    text, so any JSON value round-trips exactly), ev_extra (JSON text of any
    other top-level envelope key, e.g. `parent`), expires_at (epoch seconds,
    `task.viewed` only; the table's TTL attribute).

`<prefix>ActivityCounts`, per user (pk `U#<firm>#<user>`) and per series
(`*` = all counted events, `<family>.*` e.g. `task.*`, or an event name):
    day items      sk `D#<series>#<YYYY-MM-DD>`: t (the UTC day's total),
                   b0..b5 (4-hour blocks), h0..h23 (hours);
    quarter items  sk `Q#<series>#<HH>#<YYYY-MM-DD>`: q0..q3 (the four
                   15-minute slots of that UTC hour);
    both with v, a count of the writes to the item (recount_user's guard).
Every event ADDs to the day item and the quarter item of each of its 3
series, in the same TransactWriteItems as its conditional put; a transaction
merges the updates of its events. A viewer's local midnight always falls on
a quarter hour, so a local day is a run of UTC slots: a year of calendar in
a whole-hour zone is one Query of ~370 day items (at most 32 numbers each,
projected to 1-4), and a :30/:45 zone adds one Query of ~370 quarter items
of the boundary hour (hour-major keys keep that hour's days contiguous).
Small items matter: a Query pays for whole items, projected or not.

Events whose names expire (`task.viewed`, via TTL) are stored but not
counted: counters must stay rebuildable from the events that remain.
`ensure_tables` turns TTL on (attribute `expires_at`); DynamoDB deletes
expired items in the background, typically within a few days of expiry, so
readers that must not show expired views filter on `expires_at` themselves.

`ensure_tables` upgrades a table made under an older layout: it adds the
missing indexes and then re-keys the stored events (`reindex_events`), so
old comment events join their task's history and old events the firm index.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import math
import random
import re
import threading
import time
import zoneinfo
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, NamedTuple

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError
from django.conf import settings
from django.core import signing

logger = logging.getLogger(__name__)

UTC = dt.UTC
EVENTS_TABLE = "Events"
COUNTS_TABLE = "ActivityCounts"
TTL_ATTRIBUTE = "expires_at"
# Names kept only for a while (DynamoDB TTL); not counted, see the module doc.
EXPIRING_NAMES = frozenset({"task.viewed"})

SLOT_MINUTES = 15
SLOTS_PER_HOUR = 60 // SLOT_MINUTES
SLOTS_PER_DAY = 24 * SLOTS_PER_HOUR
HOURS_PER_BLOCK = 4
ALL_SERIES = "*"

# DynamoDB limits (with margin): 100 actions and 4 MB per transaction, 4 KB
# per expression string, 300 operators per update expression.
MAX_TRANSACT_ITEMS = 100
MAX_TRANSACT_BYTES = 3_000_000
MAX_COUNTER_ATTRS = 200
MAX_EVENT_BYTES = 350_000
CONFLICT_RETRIES = 6
# Transactions in flight at once within one put_events call.
WRITE_CONCURRENCY = 8

_INDEXES = {
    # index name -> (partition key attribute, sort key attribute)
    None: ("pk", "sk"),
    "gsi1_entity": ("gsi1pk", "gsi1sk"),
    "gsi2_matter": ("gsi2pk", "gsi2sk"),
    "gsi3_name": ("gsi3pk", "gsi3sk"),
    "gsi4_firm": ("gsi4pk", "gsi4sk"),
}
# Envelope field -> stored attribute.
_FIELDS = {
    "id": "ev_id",
    "name": "ev_name",
    "version": "ev_version",
    "occurred_at": "occurred_at",
    "firm": "firm",
    "actor": "actor",
    "subject": "subject",
    "matter": "matter",
    "changes": "changes",
    "context": "context",
}
_REQUIRED = ("id", "name", "version", "occurred_at", "firm", "actor", "subject")
_JSON_FIELDS = frozenset({"changes", "context"})
_INSTANT_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
_CURSOR_SALT = "events_app.store.cursor"
_THROTTLING = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "ThrottlingError",
        "ProvisionedThroughputExceeded",
        "TransactionInProgressException",
    }
)


# --- errors and results ------------------------------------------------------------


class StoreError(Exception):
    """The event store refused a request (misconfiguration, invalid data)."""


class StoreUnavailable(StoreError):
    """The event store cannot be reached or is overloaded: retry later.

    Nothing was written by the failing call, or what was written is
    idempotent to write again (puts are conditional on the event id).
    """


class InvalidCursor(ValueError):
    """A pagination cursor was tampered with or belongs to another query."""


@dataclass
class PutResult:
    """Outcome of `put_events`: each input id is in exactly one list."""

    written: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Page:
    """One page of events; `next_cursor` is None when the range is exhausted."""

    items: list[dict[str, Any]]
    next_cursor: str | None


class TableNames(NamedTuple):
    events: str
    counts: str


# --- settings and client -----------------------------------------------------------

_clients: dict[tuple[str | None, str], Any] = {}
_clients_lock = threading.Lock()


def _store_settings() -> dict[str, Any]:
    return dict(getattr(settings, "EVENT_STORE", {}) or {})


def table_names() -> TableNames:
    """The two table names under the current TABLE_PREFIX (read per call)."""
    prefix = _store_settings().get("TABLE_PREFIX", "") or ""
    return TableNames(prefix + EVENTS_TABLE, prefix + COUNTS_TABLE)


def _client() -> Any:
    conf = _store_settings()
    endpoint = conf.get("ENDPOINT_URL") or None
    region = conf.get("REGION") or "eu-west-2"
    key = (endpoint, region)
    client = _clients.get(key)
    if client is None:
        with _clients_lock:
            client = _clients.get(key)
            if client is None:
                client = boto3.session.Session().client(
                    "dynamodb",
                    endpoint_url=endpoint,
                    region_name=region,
                    config=Config(
                        connect_timeout=2,
                        read_timeout=10,
                        retries={"max_attempts": 2, "mode": "standard"},
                        max_pool_connections=20,
                        tcp_keepalive=True,
                        # Requests are built here and covered by tests; the
                        # client-side shape check cost a third of write CPU.
                        parameter_validation=False,
                    ),
                )
                _clients[key] = client
    return client


def reset_client() -> None:
    """Forget cached clients; the next call builds one from current settings.

    Clients are cached per (endpoint, region) and the table prefix is read on
    every call, so this is only needed to drop connections (e.g. in tests).
    """
    with _clients_lock:
        _clients.clear()


def _endpoint_label() -> str:
    return _store_settings().get("ENDPOINT_URL") or "Amazon DynamoDB"


def _call(operation: str, **kwargs: Any) -> dict[str, Any]:
    """Call one DynamoDB operation, translating transport errors.

    Raises StoreUnavailable for unreachable endpoints, timeouts and
    throttling; StoreError for a missing table; other ClientErrors as is.
    """
    try:
        return getattr(_client(), operation)(**kwargs)
    except (BotoConnectionError, HTTPClientError) as exc:
        raise StoreUnavailable(
            f"event store at {_endpoint_label()} is unreachable: {exc}"
        ) from exc
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in _THROTTLING:
            raise StoreUnavailable(f"event store is overloaded ({code})") from exc
        if code == "ResourceNotFoundException":
            raise StoreError(
                f"event store table missing at {_endpoint_label()} ({exc}); "
                "run `python manage.py ensure_event_tables`"
            ) from exc
        raise
    except BotoCoreError as exc:  # e.g. no credentials for Amazon DynamoDB
        raise StoreError(f"event store client error: {exc}") from exc


def _paginate(operation: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    """Yield raw items of every page of a Query."""
    while True:
        response = _call(operation, **kwargs)
        yield from response.get("Items", ())
        last = response.get("LastEvaluatedKey")
        if not last:
            return
        kwargs["ExclusiveStartKey"] = last


# --- tables ------------------------------------------------------------------------


def _events_table_spec(name: str) -> dict[str, Any]:
    attributes = [a for key in _INDEXES.values() for a in key]
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
            _gsi_spec(index) for index in _INDEXES if index is not None
        ],
    }


def _gsi_spec(index: str) -> dict[str, Any]:
    pk, sk = _INDEXES[index]
    return {
        "IndexName": index,
        "KeySchema": [
            {"AttributeName": pk, "KeyType": "HASH"},
            {"AttributeName": sk, "KeyType": "RANGE"},
        ],
        # History, feeds and audit read whole events from the index.
        "Projection": {"ProjectionType": "ALL"},
    }


def _counts_table_spec(name: str) -> dict[str, Any]:
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
        return _call("describe_table", TableName=name)["Table"]
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
        _call("create_table", **spec)
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
    for index in _INDEXES:
        if index is None or index in present:
            continue
        _call(
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
    ttl = _call("describe_time_to_live", TableName=names.events)
    status = ttl.get("TimeToLiveDescription", {}).get("TimeToLiveStatus")
    if status not in ("ENABLED", "ENABLING"):
        _call(
            "update_time_to_live",
            TableName=names.events,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
        )
    if _describe(names.counts) is None:
        _create_table(_counts_table_spec(names.counts))
    _wait_active(names.counts)


def delete_tables() -> None:
    """Delete both tables (tests and benchmarks); missing tables are fine."""
    for name in table_names():
        try:
            _call("delete_table", TableName=name)
        except StoreError as exc:
            if isinstance(exc, StoreUnavailable):
                raise


# --- encoding ----------------------------------------------------------------------


def isoformat(moment: dt.datetime) -> str:
    """An aware datetime as stored: UTC, microseconds, `Z` (sorts as text)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"expected an aware datetime, got naive {moment!r}")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_instant(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text[:26]).replace(tzinfo=UTC)


def _key_part(value: Any, what: str) -> str:
    text = "system" if value is None else str(value)
    if not text or "#" in text:
        raise ValueError(f"{what} {value!r} cannot be part of a key")
    return text


def user_pk(firm: str, user_id: int | str | None) -> str:
    """Partition key of a user's events and counters (None: the system)."""
    return f"U#{_key_part(firm, 'firm')}#{_key_part(user_id, 'user id')}"


def entity_pk(firm: str, subject_type: str, subject_id: int | str) -> str:
    firm_part = _key_part(firm, "firm")
    type_part = _key_part(subject_type, "subject type")
    return f"E#{firm_part}#{type_part}#{_key_part(subject_id, 'subject id')}"


def matter_pk(firm: str, matter_id: int | str) -> str:
    return f"M#{_key_part(firm, 'firm')}#{_key_part(matter_id, 'matter id')}"


def name_pk(firm: str, name: str) -> str:
    return f"N#{_key_part(firm, 'firm')}#{_key_part(name, 'event name')}"


def firm_month_pk(firm: str, month: str) -> str:
    """Partition of a firm's events of one UTC month (`YYYY-MM`)."""
    return f"F#{_key_part(firm, 'firm')}#{_key_part(month, 'month')}"


def _indexed_entity(event: dict[str, Any]) -> dict[str, Any]:
    """The entity whose history holds the event: its parent, else its subject."""
    parent = event.get("parent")
    return parent if parent is not None else event["subject"]


def _to_av(value: Any) -> dict[str, Any]:
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int):
        return {"N": str(value)}
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} is not JSON-safe")
        return {"N": repr(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, dict):
        return {"M": {str(k): _to_av(v) for k, v in value.items()}}
    if isinstance(value, list | tuple):
        return {"L": [_to_av(v) for v in value]}
    raise ValueError(f"{type(value).__name__} value {value!r} is not JSON-safe")


def _from_av(av: dict[str, Any]) -> Any:
    ((kind, value),) = av.items()
    if kind == "S":
        return value
    if kind == "N":
        try:
            return int(value)
        except ValueError:
            return float(value)
    if kind == "M":
        return {k: _from_av(v) for k, v in value.items()}
    if kind == "L":
        return [_from_av(v) for v in value]
    if kind == "BOOL":
        return value
    if kind == "NULL":
        return None
    raise ValueError(f"unexpected DynamoDB type {kind}")


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _check_name(name: str, what: str = "event name") -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ValueError(f"{what} {name!r} must match {_NAME_RE.pattern}")
    return name


def _family(name: str) -> str:
    return name.split(".", 1)[0]


def is_counted(name: str) -> bool:
    """True if events of this name feed the activity counters."""
    return name not in EXPIRING_NAMES


# --- counters: layout -------------------------------------------------------------


def _series_of(name: str) -> tuple[str, str, str]:
    return (ALL_SERIES, f"{_family(name)}.*", name)


def _is_name_series(series: str) -> bool:
    return series != ALL_SERIES and not series.endswith(".*")


def _day_sk(series: str, day: str) -> str:
    return f"D#{series}#{day}"


def _quarter_sk(series: str, hour: int, day: str) -> str:
    return f"Q#{series}#{hour:02d}#{day}"


def _parse_counter_sk(sk: str) -> tuple[str, str, int | None, str]:
    """(kind "D" or "Q", series, hour or None, day) of a counter item's sort key."""
    kind, body, day = sk[0], sk[2:-11], sk[-10:]
    if kind == "Q":
        series, hour = body.rsplit("#", 1)
        return kind, series, int(hour), day
    return kind, body, None, day


def _counter_updates(
    pk: str, name: str, occurred_at: str
) -> list[tuple[tuple[str, str], tuple[str, ...]]]:
    """The counter items and attributes one event increments."""
    day = occurred_at[:10]
    hour = int(occurred_at[11:13])
    quarter = int(occurred_at[14:16]) // SLOT_MINUTES
    day_attrs = ("t", f"b{hour // HOURS_PER_BLOCK}", f"h{hour}")
    quarter_attrs = (f"q{quarter}",)
    updates = []
    for series in _series_of(name):
        updates.append(((pk, _day_sk(series, day)), day_attrs))
        updates.append(((pk, _quarter_sk(series, hour, day)), quarter_attrs))
    return updates


@lru_cache(maxsize=25)
def _hours_prefix(hours: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(plus, minus): day-item attributes whose sum counts hours [0, hours).

    Either whole 4-hour blocks plus hours, or the day total minus the rest
    of the day, whichever reads fewer attributes (at most 4).
    """
    full = hours // HOURS_PER_BLOCK
    direct = tuple(f"b{k}" for k in range(full)) + tuple(
        f"h{h}" for h in range(full * HOURS_PER_BLOCK, hours)
    )
    up = -(-hours // HOURS_PER_BLOCK)
    rest = tuple(f"h{h}" for h in range(hours, up * HOURS_PER_BLOCK)) + tuple(
        f"b{k}" for k in range(up, 24 // HOURS_PER_BLOCK)
    )
    if len(direct) <= len(rest) + 1:
        return direct, ()
    return ("t",), rest


# --- writes ------------------------------------------------------------------------


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
    _check_name(event["name"])
    occurred_at = event["occurred_at"]
    if not isinstance(occurred_at, str) or not _INSTANT_RE.match(occurred_at):
        raise ValueError(
            f"event {ident}: occurred_at {occurred_at!r} must be "
            "YYYY-MM-DDTHH:MM:SS.ffffffZ (UTC)"
        )
    _parse_instant(occurred_at)
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
    if event["name"] not in EXPIRING_NAMES:
        return None
    days = int(getattr(settings, "TASK_VIEWED_RETENTION_DAYS", 90))
    occurred = _parse_instant(event["occurred_at"])
    return int((occurred + dt.timedelta(days=days)).timestamp())


def _prepare(event: dict[str, Any]) -> _Prepared:
    _validate(event)
    firm = event["firm"]
    occurred_at = event["occurred_at"]
    sk = f"{occurred_at}#{event['id']}"
    actor_id = event["actor"].get("id")
    subject = event["subject"]
    matter = event.get("matter")
    indexed = _indexed_entity(event)
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
        "ev_version": _to_av(event["version"]),
        "occurred_at": {"S": occurred_at},
        "firm": {"S": firm},
        "actor": _to_av(event["actor"]),
        "subject": _to_av(subject),
        "changes": {"S": _dumps(event.get("changes", {}))},
        "context": {"S": _dumps(event.get("context", {}))},
    }
    if matter is not None:
        item["gsi2pk"] = {"S": matter_pk(firm, matter["id"])}
        item["gsi2sk"] = {"S": sk}
        item["matter"] = _to_av(matter)
    extra = {k: v for k, v in event.items() if k not in _FIELDS}
    if extra:
        item["ev_extra"] = {"S": _dumps(extra)}
    expires_at = _expires_at(event)
    if expires_at is not None:
        item[TTL_ATTRIBUTE] = {"N": str(expires_at)}
    # Keys, attribute names and type tags add well under 1 KB to the JSON.
    size = len(_dumps(event).encode()) + 1024
    if size > MAX_EVENT_BYTES:
        raise ValueError(
            f"event {event['id']} is {size} bytes; DynamoDB items hold 400 KB"
        )
    counters = (
        _counter_updates(item["pk"]["S"], event["name"], occurred_at)
        if is_counted(event["name"])
        else []
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
    events_table, counts_table = table_names()
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
            _call("transact_write_items", TransactItems=_transact_items(remaining))
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
            if others & ({"TransactionConflict"} | _THROTTLING):
                raise StoreUnavailable(f"event store busy: {codes}") from exc
            raise StoreError(f"event store refused a write: {codes}") from exc
        result.written.extend(p.id for p in remaining)
        return


def put_events(events: Sequence[dict[str, Any]]) -> PutResult:
    """Store events once each, with their activity counters, in few transactions.

    Guarantees: every event is written with a conditional put on its key in
    the same TransactWriteItems as its counter increments, so an event
    delivered again (same envelope) is reported in `duplicates` and neither
    stored nor counted twice. Events are packed into transactions of at
    most 100 actions, grouped by counter partition (the actor) and in input
    order within it, so one actor's events share their counter items' updates
    (merged: one update per item per transaction) and concurrent
    transactions seldom touch the same item. A transaction cancelled by
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
    groups = list(_pack(prepared))
    if len(groups) <= 1 or WRITE_CONCURRENCY <= 1:
        for group in groups:
            _write_group(group, result)
        return result
    # DynamoDB spends most of a transaction's time on its own side, so a few
    # in flight at once multiply throughput; a counter item two of them
    # touch is a TransactionConflict, which _write_group retries. The client
    # is thread-safe; list.append is atomic.
    with ThreadPoolExecutor(max_workers=min(WRITE_CONCURRENCY, len(groups))) as pool:
        for future in [pool.submit(_write_group, group, result) for group in groups]:
            future.result()
    return result


def put_event_single(event: dict[str, Any]) -> bool:
    """Store one event in its own transaction; False if it was already stored."""
    result = PutResult()
    _write_group([_prepare(event)], result)
    return bool(result.written)


# --- reading events ----------------------------------------------------------------


def _decode_event(item: dict[str, Any], fields: Sequence[str] | None) -> dict[str, Any]:
    wanted = fields or (*_FIELDS, "_extra")
    event: dict[str, Any] = {}
    extra = json.loads(item["ev_extra"]["S"]) if "ev_extra" in item else {}
    for name in wanted:
        if name == "_extra":
            event.update(extra)
            continue
        attr = _FIELDS.get(name)
        if attr is None:
            if name in extra:
                event[name] = extra[name]
            continue
        av = item.get(attr)
        if av is None:
            event[name] = None if name == "matter" else {}
        elif name in _JSON_FIELDS:
            event[name] = json.loads(av["S"])
        else:
            event[name] = _from_av(av)
    return event


def _encode_cursor(key: dict[str, Any], scope: str) -> str:
    plain = {attr: av["S"] for attr, av in key.items()}
    return signing.dumps({"k": plain, "s": scope}, salt=_CURSOR_SALT, compress=True)


def _decode_cursor(cursor: str, scope: str, key_attrs: set[str]) -> dict[str, Any]:
    try:
        payload = signing.loads(cursor, salt=_CURSOR_SALT)
    except (signing.BadSignature, ValueError, TypeError) as exc:
        raise InvalidCursor(
            "invalid pagination cursor: it was altered or not issued by this server"
        ) from exc
    if not isinstance(payload, dict) or payload.get("s") != scope:
        raise InvalidCursor("pagination cursor belongs to another query")
    key = payload.get("k")
    if not isinstance(key, dict) or set(key) != key_attrs:
        raise InvalidCursor("pagination cursor has an unexpected shape")
    return {attr: {"S": str(value)} for attr, value in key.items()}


def _scope(*parts: str) -> str:
    """A short digest naming one query: a cursor is valid only for its query."""
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


def _check_limit(limit: int) -> int:
    if not isinstance(limit, int) or not 1 <= limit <= 1000:
        raise ValueError(f"limit must be an integer from 1 to 1000, got {limit!r}")
    return limit


def _query_events(
    *,
    index: str | None,
    partition: str,
    start: dt.datetime | None,
    end: dt.datetime | None,
    names: Collection[str] | None,
    name_prefix: str | None,
    exclude_names: Collection[str] | None,
    fields: Sequence[str] | None,
    limit: int,
    cursor: str | None,
    newest_first: bool,
    subject: tuple[str, int | str] | None = None,
    matter_id: int | str | None = None,
) -> Page:
    """One partition of one index, filtered; see `query_user_events`.

    `subject` keeps only events about that (type, id); `matter_id` only
    events of that matter. Both are filters (read, then dropped), so they
    serve partitions where most events match.
    """
    _check_limit(limit)
    if names is not None:
        names = sorted({_check_name(n) for n in names})
        if not names or len(names) > 100:
            if not names:
                return Page([], None)
            raise ValueError("at most 100 names per query")
    pk_attr, sk_attr = _INDEXES[index]
    key_attrs = {"pk", "sk", pk_attr, sk_attr}
    attr_names = {"#pk": pk_attr}
    values: dict[str, Any] = {":pk": {"S": partition}}
    condition = "#pk = :pk"
    if start is not None or end is not None:
        attr_names["#sk"] = sk_attr
    if start is not None and end is not None:
        condition += " AND #sk BETWEEN :lo AND :hi"
    elif start is not None:
        condition += " AND #sk >= :lo"
    elif end is not None:
        condition += " AND #sk < :hi"
    if start is not None:
        values[":lo"] = {"S": isoformat(start)}
    if end is not None:
        values[":hi"] = {"S": isoformat(end)}
    filters = []
    if names is not None:
        placeholders = []
        for i, name in enumerate(names):
            values[f":f{i}"] = {"S": name}
            placeholders.append(f":f{i}")
        filters.append(f"#n IN ({', '.join(placeholders)})")
    if name_prefix:
        values[":prefix"] = {"S": name_prefix}
        filters.append("begins_with(#n, :prefix)")
    if exclude_names:
        placeholders = []
        for i, name in enumerate(sorted(set(exclude_names))):
            values[f":x{i}"] = {"S": _check_name(name)}
            placeholders.append(f":x{i}")
        filters.append(f"NOT (#n IN ({', '.join(placeholders)}))")
    if filters:
        attr_names["#n"] = "ev_name"
    if subject is not None:
        attr_names.update({"#s": "subject", "#st": "type", "#si": "id"})
        values[":st"] = _to_av(subject[0])
        values[":si"] = _to_av(subject[1])
        filters.append("#s.#st = :st AND #s.#si = :si")
    if matter_id is not None:
        attr_names.update({"#m": "matter", "#mi": "id"})
        values[":mi"] = _to_av(matter_id)
        filters.append("#m.#mi = :mi")
    request: dict[str, Any] = {
        "TableName": table_names().events,
        "KeyConditionExpression": condition,
        "ScanIndexForward": not newest_first,
    }
    if index is not None:
        request["IndexName"] = index
    if filters:
        request["FilterExpression"] = " AND ".join(filters)
    if fields is not None:
        unknown = [f for f in fields if f not in _FIELDS and not _NAME_RE.match(f)]
        if unknown:
            raise ValueError(f"unknown event fields {unknown}")
        projected = set(key_attrs)
        for name in fields:
            projected.add(_FIELDS.get(name, "ev_extra"))
        placeholders = []
        for i, attr in enumerate(sorted(projected)):
            attr_names[f"#p{i}"] = attr
            placeholders.append(f"#p{i}")
        request["ProjectionExpression"] = ", ".join(placeholders)
    request["ExpressionAttributeNames"] = attr_names
    request["ExpressionAttributeValues"] = values
    # A cursor is valid only for the query that issued it (same index,
    # partition, order, range and filters).
    scope = _scope(
        str(index),
        "desc" if newest_first else "asc",
        request["KeyConditionExpression"],
        request.get("FilterExpression", ""),
        _dumps(sorted(values.items())),
    )
    if cursor:
        request["ExclusiveStartKey"] = _decode_cursor(cursor, scope, key_attrs)

    items: list[dict[str, Any]] = []
    next_key: dict[str, Any] | None = None
    while True:
        want = limit - len(items)
        # Filters apply after Limit: read more than needed, cut at `limit`.
        request["Limit"] = max(want, 200) if filters else want
        response = _call("query", **request)
        raw = response.get("Items", [])
        taken = raw[:want]
        items.extend(taken)
        if len(raw) > want:
            next_key = {attr: taken[-1][attr] for attr in key_attrs}
            break
        last = response.get("LastEvaluatedKey")
        if not last or len(items) >= limit:
            next_key = last or None
            break
        request["ExclusiveStartKey"] = last
    return Page(
        [_decode_event(item, fields) for item in items],
        _encode_cursor(next_key, scope) if next_key else None,
    )


def query_user_events(
    *,
    firm: str,
    user_id: int | str | None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    names: Collection[str] | None = None,
    name_prefix: str | None = None,
    exclude_names: Collection[str] | None = None,
    fields: Sequence[str] | None = None,
    limit: int = 100,
    cursor: str | None = None,
    newest_first: bool = True,
) -> Page:
    """A user's events with start <= occurred_at < end, newest first by default.

    `names` keeps only those names, `name_prefix` (e.g. "task.") names with
    that prefix, `exclude_names` drops names; `fields` projects envelope
    fields (the returned dicts hold only those keys). Pages are full unless
    the range is exhausted; a cursor continues exactly after the last item,
    with no gaps or repeats, and only for the same query.
    """
    return _query_events(
        index=None,
        partition=user_pk(firm, user_id),
        start=start,
        end=end,
        names=names,
        name_prefix=name_prefix,
        exclude_names=exclude_names,
        fields=fields,
        limit=limit,
        cursor=cursor,
        newest_first=newest_first,
    )


def query_entity_history(
    *,
    firm: str,
    subject_type: str,
    subject_id: int | str,
    parent: tuple[str, int | str] | None = None,
    include_children: bool = True,
    limit: int = 100,
    cursor: str | None = None,
    newest_first: bool = True,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    names: Collection[str] | None = None,
    name_prefix: str | None = None,
    exclude_names: Collection[str] | None = None,
    fields: Sequence[str] | None = None,
) -> Page:
    """One entity's events (task, comment, milestone...), newest first by default.

    A task's history includes the events of its comments (events whose
    `parent` is the task), interleaved in time, unless `include_children`
    is False. A child's own history needs its parent, `(type, id)`:
    `query_entity_history(subject_type="comment", subject_id=5,
    parent=("task", 12))` reads the task's history filtered to comment 5.

    Works after the entity is deleted: events are self-contained. Read from
    a global index, so eventually consistent (on Amazon DynamoDB an event
    may show up a moment after put_events returns). Filters, projection and
    cursors as in `query_user_events`.
    """
    if parent is not None:
        partition = entity_pk(firm, parent[0], parent[1])
        only: tuple[str, int | str] | None = (subject_type, subject_id)
    else:
        partition = entity_pk(firm, subject_type, subject_id)
        only = None if include_children else (subject_type, subject_id)
    return _query_events(
        index="gsi1_entity",
        partition=partition,
        start=start,
        end=end,
        names=names,
        name_prefix=name_prefix,
        exclude_names=exclude_names,
        fields=fields,
        limit=limit,
        cursor=cursor,
        newest_first=newest_first,
        subject=only,
    )


def query_matter_feed(
    *,
    firm: str,
    matter_id: int | str,
    limit: int = 100,
    cursor: str | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    newest_first: bool = True,
    names: Collection[str] | None = None,
    name_prefix: str | None = None,
    exclude_names: Collection[str] | None = None,
    fields: Sequence[str] | None = None,
) -> Page:
    """A matter's events (any subject, any actor), newest first by default.

    Eventually consistent (global index); otherwise as `query_entity_history`.
    """
    return _query_events(
        index="gsi2_matter",
        partition=matter_pk(firm, matter_id),
        start=start,
        end=end,
        names=names,
        name_prefix=name_prefix,
        exclude_names=exclude_names,
        fields=fields,
        limit=limit,
        cursor=cursor,
        newest_first=newest_first,
    )


def query_events_by_name(
    *,
    firm: str,
    name: str,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    limit: int = 100,
    cursor: str | None = None,
    newest_first: bool = True,
    fields: Sequence[str] | None = None,
) -> Page:
    """A firm's events of one name (audit), newest first by default.

    Eventually consistent (global index); otherwise as `query_entity_history`.
    """
    return _query_events(
        index="gsi3_name",
        partition=name_pk(firm, _check_name(name)),
        start=start,
        end=end,
        names=None,
        name_prefix=None,
        exclude_names=None,
        fields=fields,
        limit=limit,
        cursor=cursor,
        newest_first=newest_first,
    )


def _months(start: dt.datetime, end: dt.datetime) -> list[str]:
    """The UTC months (`YYYY-MM`) holding instants in [start, end), in order."""
    first = _parse_instant(isoformat(start))
    last = _parse_instant(isoformat(end)) - dt.timedelta(microseconds=1)
    months = []
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def query_firm_events(
    *,
    firm: str,
    start: dt.datetime,
    end: dt.datetime,
    user_id: int | str | None = None,
    matter_id: int | str | None = None,
    names: Collection[str] | None = None,
    name_prefix: str | None = None,
    exclude_names: Collection[str] | None = None,
    fields: Sequence[str] | None = None,
    limit: int = 100,
    cursor: str | None = None,
    newest_first: bool = True,
) -> Page:
    """A firm's events with start <= occurred_at < end, any user (audit).

    Narrowed by actor (`user_id`; "system" for the system), matter, names
    and name prefix, combined (AND). The narrowest key answers: the user's
    partition, else the matter's feed, else a single name's index, else the
    firm's month partitions (gsi4_firm), walked in order with a cursor that
    carries the month. Pages are full unless the range is exhausted (the
    last page may be empty); a cursor is valid only for the same query.
    Eventually consistent except for the user path; as `query_user_events`
    otherwise.
    """
    _check_limit(limit)
    if start >= end:
        return Page([], None)
    common: dict[str, Any] = {
        "start": start,
        "end": end,
        "names": names,
        "name_prefix": name_prefix,
        "exclude_names": exclude_names,
        "fields": fields,
        "newest_first": newest_first,
    }
    if user_id is not None:
        return _query_events(
            index=None,
            partition=user_pk(firm, user_id),
            limit=limit,
            cursor=cursor,
            matter_id=matter_id,
            **common,
        )
    if matter_id is not None:
        return _query_events(
            index="gsi2_matter",
            partition=matter_pk(firm, matter_id),
            limit=limit,
            cursor=cursor,
            **common,
        )
    if names is not None and len(set(names)) == 1:
        (name,) = set(names)
        return _query_events(
            index="gsi3_name",
            partition=name_pk(firm, _check_name(name)),
            limit=limit,
            cursor=cursor,
            **{**common, "names": None},
            # The name index holds one name; prefix and exclusions still apply.
        )
    months = _months(start, end)
    if newest_first:
        months.reverse()
    scope = _scope(
        "firm-months",
        firm,
        isoformat(start),
        isoformat(end),
        "desc" if newest_first else "asc",
        _dumps(
            [
                sorted(names) if names is not None else None,
                name_prefix,
                sorted(exclude_names or ()),
                list(fields) if fields is not None else None,
            ]
        ),
    )
    position, inner = 0, None
    if cursor:
        payload = _decode_cursor(cursor, scope, {"month", "inner"})
        month = payload["month"]["S"]
        inner = payload["inner"]["S"] or None
        if month not in months:
            raise InvalidCursor("pagination cursor belongs to another query")
        position = months.index(month)
    items: list[dict[str, Any]] = []
    next_cursor = None
    for i in range(position, len(months)):
        page = _query_events(
            index="gsi4_firm",
            partition=firm_month_pk(firm, months[i]),
            limit=limit - len(items),
            cursor=inner,
            **common,
        )
        inner = None
        items.extend(page.items)
        if len(items) >= limit:
            if page.next_cursor is not None:
                resume = {"month": months[i], "inner": page.next_cursor}
            elif i + 1 < len(months):
                resume = {"month": months[i + 1], "inner": ""}
            else:
                break
            next_cursor = _encode_cursor(
                {k: {"S": v} for k, v in resume.items()}, scope
            )
            break
    return Page(items, next_cursor)


def iter_events(
    query: Callable[..., Page], /, *, page_size: int = 500, **kwargs: Any
) -> Iterator[dict[str, Any]]:
    """Stream every event of a query page by page (exports; bounded memory).

    `iter_events(query_user_events, firm="f_1", user_id=7, start=a, end=b)`.
    """
    cursor = kwargs.pop("cursor", None)
    kwargs.pop("limit", None)
    while True:
        page = query(limit=page_size, cursor=cursor, **kwargs)
        yield from page.items
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


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
    for item in _paginate("scan", **request):
        if on_item is not None:
            on_item()
        firm = item["firm"]["S"]
        sk = item["sk"]["S"]
        extra = json.loads(item["ev_extra"]["S"]) if "ev_extra" in item else {}
        event = {"subject": _from_av(item["subject"]), "parent": extra.get("parent")}
        indexed = _indexed_entity(event)
        gsi1pk = entity_pk(firm, indexed["type"], indexed["id"])
        gsi4pk = firm_month_pk(firm, sk[:7])
        current = (item.get("gsi1pk", {}).get("S"), item.get("gsi4pk", {}).get("S"))
        if current == (gsi1pk, gsi4pk):
            continue
        try:
            _call(
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


def get_event(
    *, firm: str, user_id: int | str | None, occurred_at: str, event_id: str
) -> dict[str, Any] | None:
    """One event by its full key (strongly consistent), or None."""
    response = _call(
        "get_item",
        TableName=table_names().events,
        Key={
            "pk": {"S": user_pk(firm, user_id)},
            "sk": {"S": f"{occurred_at}#{event_id}"},
        },
        ConsistentRead=True,
    )
    item = response.get("Item")
    return _decode_event(item, None) if item else None


# --- reading counters --------------------------------------------------------------


@dataclass(frozen=True)
class _Selection:
    """Which counter series answer a name filter: sum `add`, minus `subtract`."""

    add: tuple[str, ...] = ()
    subtract: tuple[str, ...] = ()
    # Set when no series answers the filter directly (a prefix that is not a
    # family, like "task.comp"): sum the name series starting with `prefix`
    # that pass `keep`.
    prefix: str | None = None
    keep: Callable[[str], bool] | None = None

    @property
    def empty(self) -> bool:
        return not self.add and self.prefix is None


def _select(
    names: Collection[str] | None,
    name_prefix: str | None,
    exclude_names: Collection[str] | None,
) -> _Selection:
    excluded = {_check_name(n) for n in exclude_names or ()}
    prefix = name_prefix or ""
    if prefix:
        _check_name(prefix, "name prefix")
    if names is not None:
        chosen = sorted(
            n
            for n in {_check_name(n) for n in names}
            if is_counted(n) and n.startswith(prefix) and n not in excluded
        )
        return _Selection(add=tuple(chosen))
    if prefix and not (prefix.endswith(".") and prefix.count(".") == 1):
        return _Selection(prefix=prefix, keep=lambda name: name not in excluded)
    base = f"{prefix}*" if prefix else ALL_SERIES
    subtract = tuple(
        sorted(n for n in excluded if is_counted(n) and n.startswith(prefix))
    )
    return _Selection(add=(base,), subtract=subtract)


@dataclass
class _SeriesCounters:
    """One series' counter items in a range: {day: numbers} and per hour."""

    days: dict[str, dict[str, int]] = field(default_factory=dict)
    quarters: dict[int, dict[str, dict[str, int]]] = field(
        default_factory=lambda: defaultdict(dict)
    )


def _numbers(item: dict[str, Any]) -> dict[str, int]:
    return {
        attr: int(av["N"])
        for attr, av in item.items()
        if attr not in ("pk", "sk", "v") and av["N"] != "0"
    }


def _counter_query(
    condition: str, values: dict[str, Any], attrs: Iterable[str] | None
) -> Iterator[tuple[str, dict[str, int]]]:
    request: dict[str, Any] = {
        "TableName": table_names().counts,
        "KeyConditionExpression": condition,
        "ExpressionAttributeValues": values,
    }
    if attrs is not None:
        # Counter attribute names (t, b<k>, h<h>, q<q>) are plain tokens.
        request["ProjectionExpression"] = ",".join(["sk", *sorted(set(attrs))])
    for item in _paginate("query", **request):
        yield item["sk"]["S"], _numbers(item)


def _read_series(
    *,
    pk: str,
    series: str,
    first_day: dt.date,
    last_day: dt.date,
    day_attrs: Iterable[str] | None,
    quarter_hours: dict[int, int],
) -> _SeriesCounters:
    """A series' day items (unless day_attrs is None) and, per hour in
    quarter_hours, that hour's quarter items, for UTC days in range."""
    result = _SeriesCounters()
    lo, hi = first_day.isoformat(), last_day.isoformat()
    between = "pk = :pk AND sk BETWEEN :lo AND :hi"
    if day_attrs is not None:
        values = {
            ":pk": {"S": pk},
            ":lo": {"S": _day_sk(series, lo)},
            ":hi": {"S": _day_sk(series, hi)},
        }
        for sk, numbers in _counter_query(between, values, day_attrs):
            result.days[sk[-10:]] = numbers
    for hour, quarters in sorted(quarter_hours.items()):
        values = {
            ":pk": {"S": pk},
            ":lo": {"S": _quarter_sk(series, hour, lo)},
            ":hi": {"S": _quarter_sk(series, hour, hi)},
        }
        attrs = [f"q{q}" for q in range(quarters)]
        for sk, numbers in _counter_query(between, values, attrs):
            result.quarters[hour][sk[-10:]] = numbers
    return result


def _read_prefixed(
    *,
    pk: str,
    selection: _Selection,
    first_day: dt.date,
    last_day: dt.date,
    day_attrs: Iterable[str] | None,
    quarter_hours: dict[int, int],
) -> list[_SeriesCounters]:
    """Counter items of every name series starting with the selection's prefix.

    Reads those series over all time (their days are not contiguous in key
    order) and keeps the days in range: the slow path of a prefix that is
    not a family; pass `names` to avoid it.
    """
    assert selection.prefix is not None and selection.keep is not None
    lo, hi = first_day.isoformat(), last_day.isoformat()
    kinds = [
        kind for kind, wanted in (("D", day_attrs), ("Q", quarter_hours)) if wanted
    ]
    by_series: dict[str, _SeriesCounters] = defaultdict(_SeriesCounters)
    for kind in kinds:
        values = {":pk": {"S": pk}, ":prefix": {"S": f"{kind}#{selection.prefix}"}}
        condition = "pk = :pk AND begins_with(sk, :prefix)"
        for sk, numbers in _counter_query(condition, values, None):
            _, series, hour, day = _parse_counter_sk(sk)
            if not (lo <= day <= hi and _is_name_series(series)):
                continue
            if not selection.keep(series):
                continue
            if hour is None:
                by_series[series].days[day] = numbers
            elif hour in quarter_hours:
                by_series[series].quarters[hour][day] = numbers
    return list(by_series.values())


def _read_selection(
    *,
    firm: str,
    user_id: int | str | None,
    selection: _Selection,
    first_day: dt.date,
    last_day: dt.date,
    day_attrs: Iterable[str] | None,
    quarter_hours: dict[int, int],
) -> list[tuple[int, _SeriesCounters]]:
    """(sign, counters) for each series the selection adds or subtracts."""
    pk = user_pk(firm, user_id)
    span: dict[str, Any] = {
        "first_day": first_day,
        "last_day": last_day,
        "day_attrs": day_attrs,
        "quarter_hours": quarter_hours,
    }
    if selection.prefix is not None:
        return [(1, c) for c in _read_prefixed(pk=pk, selection=selection, **span)]
    return [
        (sign, _read_series(pk=pk, series=series, **span))
        for sign, group in ((1, selection.add), (-1, selection.subtract))
        for series in group
    ]


def _zone(tz: str | dt.tzinfo) -> dt.tzinfo:
    if isinstance(tz, dt.tzinfo):
        return tz
    try:
        return zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise ValueError(f"unknown timezone {tz!r}") from exc


def _local_runs(day: dt.date, zone: dt.tzinfo) -> list[tuple[int, int, dt.date]]:
    """Split a UTC day's slots into runs [a, b) of one local date in `zone`.

    A slot belongs to the local date of its start. With one offset all day
    (every day but transition days) the split is computed, not searched.
    """
    day_start = dt.datetime.combine(day, dt.time(), UTC)
    last_slot = dt.timedelta(minutes=SLOT_MINUTES * (SLOTS_PER_DAY - 1))
    offset = day_start.astimezone(zone).utcoffset()
    if (
        offset is not None
        and offset == (day_start + last_slot).astimezone(zone).utcoffset()
    ):
        seconds = int(offset.total_seconds())
        shift0 = seconds // 86400
        shift_last = (int(last_slot.total_seconds()) + seconds) // 86400
        if shift0 == shift_last:
            return [(0, SLOTS_PER_DAY, day + dt.timedelta(days=shift0))]
        split = -(-((shift0 + 1) * 86400 - seconds) // (SLOT_MINUTES * 60))
        return [
            (0, split, day + dt.timedelta(days=shift0)),
            (split, SLOTS_PER_DAY, day + dt.timedelta(days=shift0 + 1)),
        ]
    runs: list[tuple[int, int, dt.date]] = []
    step = dt.timedelta(minutes=SLOT_MINUTES)
    for slot in range(SLOTS_PER_DAY):
        local_date = (day_start + slot * step).astimezone(zone).date()
        if runs and runs[-1][2] == local_date:
            runs[-1] = (runs[-1][0], slot + 1, local_date)
        else:
            runs.append((slot, slot + 1, local_date))
    return runs


def _prefix(counters: _SeriesCounters, day: str, slot: int) -> int:
    """Events of one series in slots [0, slot) of a UTC day."""
    hour, quarter = divmod(slot, SLOTS_PER_HOUR)
    plus, minus = _hours_prefix(hour)
    total = 0
    numbers = counters.days.get(day)
    if numbers:
        total = sum(numbers.get(a, 0) for a in plus)
        total -= sum(numbers.get(a, 0) for a in minus)
    if quarter:
        numbers = counters.quarters.get(hour, {}).get(day)
        if numbers:
            total += sum(numbers.get(f"q{q}", 0) for q in range(quarter))
    return total


def _check_dates(start_date: dt.date, end_date: dt.date) -> None:
    if start_date > end_date:
        raise ValueError(f"start_date {start_date} is after end_date {end_date}")


def daily_counts(
    *,
    firm: str,
    user_id: int | str | None,
    start_date: dt.date,
    end_date: dt.date,
    tz: str | dt.tzinfo,
    names: Collection[str] | None = None,
    name_prefix: str | None = None,
    exclude_names: Collection[str] | None = None,
) -> dict[str, int]:
    """Events per local day of `tz`, for local days start_date..end_date inclusive.

    Returns {"YYYY-MM-DD": count} in date order, days without events omitted.
    Read from the counters (per series, one small projected item per UTC
    day), never from the events. Exact for any IANA zone whose local dates
    change on a quarter hour (every zone since 2012, including +5:30, +5:45
    and DST changes), and equal to `naive_daily_counts`. `names` (a set),
    `name_prefix` and `exclude_names` combine (AND). Expiring names
    (`task.viewed`) are never counted. Raises ValueError for an unknown
    timezone or reversed dates.
    """
    _check_dates(start_date, end_date)
    zone = _zone(tz)
    selection = _select(names, name_prefix, exclude_names)
    if selection.empty:
        return {}
    one_day = dt.timedelta(days=1)
    # Local days lie within a day of the UTC days of the same date.
    first_day, last_day = start_date - one_day, end_date + one_day
    runs_by_day: dict[str, list[tuple[int, int, str]]] = {}
    boundaries: set[int] = set()
    day = first_day
    while day <= last_day:
        runs = [
            (a, b, local.isoformat())
            for a, b, local in _local_runs(day, zone)
            if start_date <= local <= end_date
        ]
        if runs:
            runs_by_day[day.isoformat()] = runs
            for a, b, _ in runs:
                boundaries.update((a, b))
        day += one_day
    day_attrs: set[str] = set()
    quarter_hours: dict[int, int] = {}
    for boundary in boundaries:
        hour, quarter = divmod(boundary, SLOTS_PER_HOUR)
        for attrs in _hours_prefix(hour):
            day_attrs.update(attrs)
        if quarter:
            quarter_hours[hour] = max(quarter_hours.get(hour, 0), quarter)
    series_counters = _read_selection(
        firm=firm,
        user_id=user_id,
        selection=selection,
        first_day=first_day,
        last_day=last_day,
        day_attrs=day_attrs,
        quarter_hours=quarter_hours,
    )
    totals: dict[str, int] = defaultdict(int)
    for sign, counters in series_counters:
        for day_key in counters.days:
            for a, b, local in runs_by_day.get(day_key, ()):
                count = _prefix(counters, day_key, b)
                if a:
                    count -= _prefix(counters, day_key, a)
                totals[local] += sign * count
    return {local: totals[local] for local in sorted(totals) if totals[local]}


def activity_counts(
    *,
    firm: str,
    user_id: int | str | None,
    start: dt.datetime,
    end: dt.datetime,
    names: Collection[str] | None = None,
    name_prefix: str | None = None,
    exclude_names: Collection[str] | None = None,
) -> dict[dt.datetime, int]:
    """Events per 15-minute UTC slot overlapping [start, end), from the counters.

    Keys are the aware UTC start of each non-empty slot, in time order. Name
    filters as in `daily_counts`; expiring names are never counted.
    """
    start_utc = _parse_instant(isoformat(start))
    end_utc = _parse_instant(isoformat(end))
    selection = _select(names, name_prefix, exclude_names)
    if start_utc >= end_utc or selection.empty:
        return {}
    first_day = start_utc.date()
    last_day = (end_utc - dt.timedelta(microseconds=1)).date()
    # One query per hour of the day and series: fine for the short ranges
    # this serves; the calendar uses daily_counts.
    series_counters = _read_selection(
        firm=firm,
        user_id=user_id,
        selection=selection,
        first_day=first_day,
        last_day=last_day,
        day_attrs=None,
        quarter_hours=dict.fromkeys(range(24), SLOTS_PER_HOUR),
    )
    step = dt.timedelta(minutes=SLOT_MINUTES)
    totals: dict[dt.datetime, int] = defaultdict(int)
    for sign, counters in series_counters:
        for hour, days in counters.quarters.items():
            for day_key, numbers in days.items():
                hour_start = dt.datetime.combine(
                    dt.date.fromisoformat(day_key), dt.time(hour), UTC
                )
                for quarter in range(SLOTS_PER_HOUR):
                    count = numbers.get(f"q{quarter}")
                    slot_start = hour_start + quarter * step
                    if count and slot_start < end_utc and slot_start + step > start_utc:
                        totals[slot_start] += sign * count
    return {slot: totals[slot] for slot in sorted(totals) if totals[slot]}


def naive_daily_counts(
    *,
    firm: str,
    user_id: int | str | None,
    start_date: dt.date,
    end_date: dt.date,
    tz: str | dt.tzinfo,
    names: Collection[str] | None = None,
    name_prefix: str | None = None,
    exclude_names: Collection[str] | None = None,
) -> dict[str, int]:
    """`daily_counts` the slow way: read every event in range, count per local day.

    The seed's method (a Query of the user's events projecting only the sort
    key, which holds occurred_at); the reference for tests and the baseline
    of bench/calendar_query.py. Same arguments and result as `daily_counts`,
    cost proportional to the number of events.
    """
    _check_dates(start_date, end_date)
    zone = _zone(tz)
    uncounted = sorted(
        set(EXPIRING_NAMES) | {_check_name(n) for n in exclude_names or ()}
    )
    one_day = dt.timedelta(days=1)
    values: dict[str, Any] = {
        ":pk": {"S": user_pk(firm, user_id)},
        ":lo": {"S": (start_date - one_day).isoformat()},
        ":hi": {"S": (end_date + 2 * one_day).isoformat()},
    }
    filters = []
    if names is not None:
        kept = sorted({_check_name(n) for n in names} - set(uncounted))
        if not kept:
            return {}
        for i, name in enumerate(kept):
            values[f":f{i}"] = {"S": name}
        filters.append(f"#n IN ({', '.join(f':f{i}' for i in range(len(kept)))})")
    if name_prefix:
        values[":prefix"] = {"S": name_prefix}
        filters.append("begins_with(#n, :prefix)")
    for i, name in enumerate(uncounted):
        values[f":x{i}"] = {"S": name}
    filters.append(
        f"NOT (#n IN ({', '.join(f':x{i}' for i in range(len(uncounted)))}))"
    )
    request: dict[str, Any] = {
        "TableName": table_names().events,
        "KeyConditionExpression": "pk = :pk AND sk BETWEEN :lo AND :hi",
        "FilterExpression": " AND ".join(filters),
        "ProjectionExpression": "sk",
        "ExpressionAttributeNames": {"#n": "ev_name"},
        "ExpressionAttributeValues": values,
    }
    totals: Counter[str] = Counter()
    for item in _paginate("query", **request):
        local = _parse_instant(item["sk"]["S"]).astimezone(zone).date()
        if start_date <= local <= end_date:
            totals[local.isoformat()] += 1
    return {day: totals[day] for day in sorted(totals)}


# --- rebuilding counters -----------------------------------------------------------


def _day_totals(items: dict[str, dict[str, int]]) -> dict[str, int]:
    """Series -> day total, from the day items among counter items by sk."""
    totals = {}
    for sk, numbers in items.items():
        kind, series, _, _ = _parse_counter_sk(sk)
        if kind == "D" and numbers.get("t"):
            totals[series] = numbers["t"]
    return dict(sorted(totals.items()))


def _stored_counters(
    pk: str, lo: str, hi: str
) -> dict[str, tuple[dict[str, int], int]]:
    """Every counter item of a user for UTC days lo..hi: sk -> (numbers, v)."""
    found = {}
    request = {
        "TableName": table_names().counts,
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": {"S": pk}},
        "ConsistentRead": True,
    }
    for item in _paginate("query", **request):
        sk = item["sk"]["S"]
        if lo <= sk[-10:] <= hi:
            found[sk] = (_numbers(item), int(item.get("v", {"N": "0"})["N"]))
    return found


def _expected_counters(pk: str, lo: str, hi: str) -> dict[str, dict[str, int]]:
    """Counter items recomputed from the stored events of UTC days lo..hi."""
    request: dict[str, Any] = {
        "TableName": table_names().events,
        "KeyConditionExpression": "pk = :pk AND sk BETWEEN :lo AND :hi",
        "ProjectionExpression": "sk, ev_name",
        "ExpressionAttributeValues": {
            ":pk": {"S": pk},
            ":lo": {"S": lo},
            # "~" sorts after "T": every event of day `hi` is included.
            ":hi": {"S": f"{hi}~"},
        },
        "ConsistentRead": True,
    }
    expected: dict[str, Counter[str]] = defaultdict(Counter)
    for item in _paginate("query", **request):
        name = item["ev_name"]["S"]
        if is_counted(name):
            for (_, sk), attrs in _counter_updates(pk, name, item["sk"]["S"]):
                expected[sk].update(attrs)
    return {sk: dict(counts) for sk, counts in expected.items()}


def _reload_day(
    pk: str, day: str, sks: set[str]
) -> tuple[dict[str, tuple[dict[str, int], int]], dict[str, dict[str, int]]]:
    """A day's counter items (read first) and its recount (events read after)."""
    while True:
        found = {}
        for sk in sorted(sks):
            item = _call(
                "get_item",
                TableName=table_names().counts,
                Key={"pk": {"S": pk}, "sk": {"S": sk}},
                ConsistentRead=True,
            ).get("Item")
            if item is not None:
                found[sk] = (_numbers(item), int(item.get("v", {"N": "0"})["N"]))
        expected = _expected_counters(pk, day, day)
        if set(expected) <= sks:
            return found, expected
        sks = sks | set(expected)


def _rewrite(pk: str, sk: str, numbers: dict[str, int], version: int | None) -> bool:
    """Replace one counter item if its version is unchanged; False otherwise."""
    request: dict[str, Any] = {"TableName": table_names().counts}
    key = {"pk": {"S": pk}, "sk": {"S": sk}}
    if version is None:
        request["ConditionExpression"] = "attribute_not_exists(pk)"
    else:
        # An item written without `v` (by hand, or an older writer) reads as 0.
        request["ConditionExpression"] = (
            "v = :v" if version else "(attribute_not_exists(v) OR v = :v)"
        )
        request["ExpressionAttributeValues"] = {":v": {"N": str(version)}}
    if numbers:
        item = {**key, "v": {"N": str((version or 0) + 1)}}
        item.update({attr: {"N": str(n)} for attr, n in numbers.items()})
        operation = "put_item"
        request["Item"] = item
    else:
        operation = "delete_item"
        request["Key"] = key
    try:
        _call(operation, **request)
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False
        raise
    return True


def recount_user(
    *,
    firm: str,
    user_id: int | str | None,
    since: dt.date | None = None,
    until: dt.date | None = None,
    dry_run: bool = False,
    on_day: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Rebuild a user's counters from their stored events; report what changed.

    Covers UTC days from `since` to `until` (default: all). Counter items
    are read (with their write version `v`) before the events, both
    strongly consistent; a wrong item is replaced only if its `v` is
    unchanged. An event written meanwhile bumps `v`, so that day is read
    again and recomputed: no concurrent increment is lost. `on_day(day)` is
    called per day checked (progress bars); `dry_run` only reports.

    Returns {"days_checked", "days_corrected", "events_counted",
    "corrections": {"YYYY-MM-DD": {"before": {series: n}, "after": {...}}}}
    with the day's total per series (`*`, `<family>.*`, names).
    """
    pk = user_pk(firm, user_id)
    lo = since.isoformat() if since else "0000-00-00"
    hi = until.isoformat() if until else "9999-12-31"
    found = _stored_counters(pk, lo, hi)
    expected = _expected_counters(pk, lo, hi)
    found_by_day: dict[str, dict[str, tuple[dict[str, int], int]]] = defaultdict(dict)
    expected_by_day: dict[str, dict[str, dict[str, int]]] = defaultdict(dict)
    for sk, entry in found.items():
        found_by_day[sk[-10:]][sk] = entry
    for sk, numbers in expected.items():
        expected_by_day[sk[-10:]][sk] = numbers
    corrections: dict[str, Any] = {}
    days = sorted(set(found_by_day) | set(expected_by_day))
    for day in days:
        day_found, day_expected = found_by_day[day], expected_by_day[day]
        for _attempt in range(CONFLICT_RETRIES):
            wrong = sorted(
                sk
                for sk in set(day_found) | set(day_expected)
                if day_found.get(sk, ({}, 0))[0] != day_expected.get(sk, {})
            )
            if not wrong:
                break
            corrections.setdefault(
                day,
                {
                    "before": _day_totals({sk: n for sk, (n, _) in day_found.items()}),
                    "after": _day_totals(day_expected),
                },
            )
            if dry_run:
                break
            if all(
                _rewrite(
                    pk,
                    sk,
                    day_expected.get(sk, {}),
                    day_found[sk][1] if sk in day_found else None,
                )
                for sk in wrong
            ):
                break
            day_found, day_expected = _reload_day(
                pk, day, set(day_found) | set(day_expected)
            )
        else:
            raise StoreUnavailable(f"counters of {pk} on {day} keep changing")
        if on_day is not None:
            on_day(day)
    return {
        "days_checked": len(days),
        "days_corrected": len(corrections),
        "events_counted": sum(
            n.get("t", 0)
            for sk, n in expected.items()
            if sk.startswith(f"D#{ALL_SERIES}#")
        ),
        "corrections": corrections,
    }
