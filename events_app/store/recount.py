"""Rebuilding a person's or a matter's counters from stored events, while writing.

The recount derives every series, filter series included, from the names'
rules as they are now (`names.is_counted`, `is_counted_on_matter`,
`CALENDAR_FILTERS`): after a filter's definition changes, a recount makes
its series what the new definition gives, and deletes the series of a
filter that is gone.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from events_app.names import is_counted, is_counted_on_matter
from events_app.store.client import StoreUnavailable, call, paginate, table_names
from events_app.store.codec import matter_pk, user_pk
from events_app.store.counters import (
    ALL_SERIES,
    counter_updates,
    layout_fingerprint,
    numbers_of,
    parse_counter_sk,
)
from events_app.store.writes import CONFLICT_RETRIES

# The item that records which layout the counters were last rebuilt under;
# no person or matter partition starts with "L#".
_LAYOUT_KEY = {"pk": {"S": "L#layout"}, "sk": {"S": "counters"}}


def stored_layout() -> str | None:
    """The layout fingerprint of the last full recount, or None."""
    item = call(
        "get_item",
        TableName=table_names().counts,
        Key=_LAYOUT_KEY,
        ConsistentRead=True,
    ).get("Item")
    return item["fingerprint"]["S"] if item else None


def put_layout() -> str:
    """Record that every counter was rebuilt under the current layout."""
    fingerprint = layout_fingerprint()
    call(
        "put_item",
        TableName=table_names().counts,
        Item={**_LAYOUT_KEY, "fingerprint": {"S": fingerprint}},
    )
    return fingerprint


def _day_totals(items: dict[str, dict[str, int]]) -> dict[str, int]:
    """Series -> day total, from the day items among counter items by sk."""
    totals = {}
    for sk, numbers in items.items():
        kind, series, _, _ = parse_counter_sk(sk)
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
    for item in paginate("query", **request):
        sk = item["sk"]["S"]
        if lo <= sk[-10:] <= hi:
            found[sk] = (numbers_of(item), int(item.get("v", {"N": "0"})["N"]))
    return found


@dataclass(frozen=True)
class _Partition:
    """One counters partition and where its events are read from."""

    pk: str
    counted: Callable[[str], bool]
    # Whether the partition keeps per-family and per-name series.
    by_name: bool = True
    # None: the events table's own key (strongly consistent reads); else a
    # global index and its key attributes (eventually consistent).
    index: str | None = None
    key: tuple[str, str] = ("pk", "sk")


def _user_partition(firm: str, user_id: int | str | None) -> _Partition:
    return _Partition(user_pk(firm, user_id), is_counted)


def _matter_partition(firm: str, matter_id: int | str) -> _Partition:
    return _Partition(
        matter_pk(firm, matter_id),
        is_counted_on_matter,
        by_name=False,
        index="gsi2_matter",
        key=("gsi2pk", "gsi2sk"),
    )


def _expected_counters(part: _Partition, lo: str, hi: str) -> dict[str, dict[str, int]]:
    """Counter items recomputed from the stored events of UTC days lo..hi."""
    pk_attr, sk_attr = part.key
    request: dict[str, Any] = {
        "TableName": table_names().events,
        "KeyConditionExpression": f"{pk_attr} = :pk AND {sk_attr} BETWEEN :lo AND :hi",
        "ProjectionExpression": f"{sk_attr}, ev_name",
        "ExpressionAttributeValues": {
            ":pk": {"S": part.pk},
            ":lo": {"S": lo},
            # "~" sorts after "T": every event of day `hi` is included.
            ":hi": {"S": f"{hi}~"},
        },
    }
    if part.index is None:
        request["ConsistentRead"] = True
    else:
        request["IndexName"] = part.index
    expected: dict[str, Counter[str]] = defaultdict(Counter)
    for item in paginate("query", **request):
        name = item["ev_name"]["S"]
        if part.counted(name):
            updates = counter_updates(
                part.pk, name, item[sk_attr]["S"], by_name=part.by_name
            )
            for (_, sk), attrs in updates:
                expected[sk].update(attrs)
    return {sk: dict(counts) for sk, counts in expected.items()}


def _reload_day(
    part: _Partition, day: str, sks: set[str]
) -> tuple[dict[str, tuple[dict[str, int], int]], dict[str, dict[str, int]]]:
    """A day's counter items (read first) and its recount (events read after)."""
    pk = part.pk
    while True:
        found = {}
        for sk in sorted(sks):
            item = call(
                "get_item",
                TableName=table_names().counts,
                Key={"pk": {"S": pk}, "sk": {"S": sk}},
                ConsistentRead=True,
            ).get("Item")
            if item is not None:
                found[sk] = (numbers_of(item), int(item.get("v", {"N": "0"})["N"]))
        expected = _expected_counters(part, day, day)
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
        call(operation, **request)
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
    with the day's total per series (`*`, `<family>.*`, names, `~<filter>`).
    """
    return _recount(
        _user_partition(firm, user_id),
        since=since,
        until=until,
        dry_run=dry_run,
        on_day=on_day,
    )


def recount_matter(
    *,
    firm: str,
    matter_id: int | str,
    since: dt.date | None = None,
    until: dt.date | None = None,
    dry_run: bool = False,
    on_day: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Rebuild a matter's counters from its stored events, as `recount_user`.

    The matter's events are read from its global index, which DynamoDB
    keeps eventually consistent (typically within a second; DynamoDB Local
    at once): an event written in the last moments before the recount reads
    its day may be missed there and that day corrected short of it. Run it
    on a quiet store, or run it again: a recount of settled events is exact.
    """
    return _recount(
        _matter_partition(firm, matter_id),
        since=since,
        until=until,
        dry_run=dry_run,
        on_day=on_day,
    )


def _recount(
    part: _Partition,
    *,
    since: dt.date | None,
    until: dt.date | None,
    dry_run: bool,
    on_day: Callable[[str], None] | None,
) -> dict[str, Any]:
    pk = part.pk
    lo = since.isoformat() if since else "0000-00-00"
    hi = until.isoformat() if until else "9999-12-31"
    found = _stored_counters(pk, lo, hi)
    expected = _expected_counters(part, lo, hi)
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
                part, day, set(day_found) | set(day_expected)
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
