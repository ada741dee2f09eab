"""Reading events back: a person's, an entity's, a matter's, a firm's.

Every query reads one partition (or a firm's month partitions in turn),
newest first by default, in pages cut at `limit` with a signed cursor that
continues exactly after the last item and is valid only for its query.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from events_app.envelope import isoformat, parse_instant
from events_app.store.client import InvalidCursor, call, table_names
from events_app.store.codec import (
    FIELDS,
    INDEXES,
    NAME_RE,
    check_name,
    decode_cursor,
    decode_event,
    dumps,
    encode_cursor,
    entity_pk,
    firm_month_pk,
    matter_pk,
    name_pk,
    query_scope,
    to_av,
    user_pk,
)


@dataclass(frozen=True)
class Page:
    """One page of events; `next_cursor` is None when the range is exhausted."""

    items: list[dict[str, Any]]
    next_cursor: str | None


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
    exclude_matters: Collection[int] | None = None,
) -> Page:
    """One partition of one index, filtered; see `query_user_events`.

    `subject` keeps only events about that (type, id); `matter_id` only
    events of that matter. Both are filters (read, then dropped), so they
    serve partitions where most events match. `exclude_matters` drops the
    events of those matters (walls), after reading, any number of them.
    """
    _check_limit(limit)
    if names is not None:
        names = sorted({check_name(n) for n in names})
        if not names or len(names) > 100:
            if not names:
                return Page([], None)
            raise ValueError("at most 100 names per query")
    pk_attr, sk_attr = INDEXES[index]
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
            values[f":x{i}"] = {"S": check_name(name)}
            placeholders.append(f":x{i}")
        filters.append(f"NOT (#n IN ({', '.join(placeholders)}))")
    if filters:
        attr_names["#n"] = "ev_name"
    if subject is not None:
        attr_names.update({"#s": "subject", "#st": "type", "#si": "id"})
        values[":st"] = to_av(subject[0])
        values[":si"] = to_av(subject[1])
        filters.append("#s.#st = :st AND #s.#si = :si")
    if matter_id is not None:
        attr_names.update({"#m": "matter", "#mi": "id"})
        values[":mi"] = to_av(matter_id)
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
    hidden = {str(m) for m in exclude_matters or ()}
    if fields is not None:
        unknown = [f for f in fields if f not in FIELDS and not NAME_RE.match(f)]
        if unknown:
            raise ValueError(f"unknown event fields {unknown}")
        projected = set(key_attrs) | ({"matter"} if hidden else set())
        for name in fields:
            projected.add(FIELDS.get(name, "ev_extra"))
        placeholders = []
        for i, attr in enumerate(sorted(projected)):
            attr_names[f"#p{i}"] = attr
            placeholders.append(f"#p{i}")
        request["ProjectionExpression"] = ", ".join(placeholders)
    request["ExpressionAttributeNames"] = attr_names
    request["ExpressionAttributeValues"] = values
    # A cursor is valid only for the query that issued it (same index,
    # partition, order, range and filters).
    scope = query_scope(
        str(index),
        "desc" if newest_first else "asc",
        request["KeyConditionExpression"],
        request.get("FilterExpression", ""),
        dumps(sorted(values.items())),
        dumps(sorted(hidden)),
    )
    if cursor:
        request["ExclusiveStartKey"] = decode_cursor(cursor, scope, key_attrs)

    items: list[dict[str, Any]] = []
    next_key: dict[str, Any] | None = None
    while True:
        want = limit - len(items)
        # Filters apply after Limit: read more than needed, cut at `limit`.
        request["Limit"] = max(want, 200) if filters or hidden else want
        response = call("query", **request)
        raw = response.get("Items", [])
        last = response.get("LastEvaluatedKey")
        full = False
        for position, item in enumerate(raw):
            if hidden and _matter_of(item) in hidden:
                continue
            items.append(item)
            if len(items) >= limit:
                full = True
                if position + 1 < len(raw):  # more read: continue after it
                    last = {attr: item[attr] for attr in key_attrs}
                break
        if full or not last:
            next_key = last or None
            break
        request["ExclusiveStartKey"] = last
    return Page(
        [decode_event(item, fields) for item in items],
        encode_cursor(next_key, scope) if next_key else None,
    )


def _matter_of(item: dict[str, Any]) -> str | None:
    """The matter id of a stored item, as text (None without a matter)."""
    return item.get("matter", {}).get("M", {}).get("id", {}).get("N")


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
    exclude_matters: Collection[int] | None = None,
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
        exclude_matters=exclude_matters,
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
    exclude_matters: Collection[int] | None = None,
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
        exclude_matters=exclude_matters,
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
        partition=name_pk(firm, check_name(name)),
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
    first = parse_instant(isoformat(start))
    last = parse_instant(isoformat(end)) - dt.timedelta(microseconds=1)
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
    exclude_matters: Collection[int] | None = None,
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
        "exclude_matters": exclude_matters,
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
            partition=name_pk(firm, check_name(name)),
            limit=limit,
            cursor=cursor,
            **{**common, "names": None},
            # The name index holds one name; prefix and exclusions still apply.
        )
    months = _months(start, end)
    if newest_first:
        months.reverse()
    scope = query_scope(
        "firm-months",
        firm,
        isoformat(start),
        isoformat(end),
        "desc" if newest_first else "asc",
        dumps(
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
        payload = decode_cursor(cursor, scope, {"month", "inner"})
        month = payload["month"]["S"]
        inner = payload["inner"]["S"] or None
        if month not in months:
            raise InvalidCursor(
                "That page link (cursor) belongs to another query; start again."
            )
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
            next_cursor = encode_cursor({k: {"S": v} for k, v in resume.items()}, scope)
            break
    return Page(items, next_cursor)


def iter_pages(
    query: Callable[..., Page], /, *, page_size: int = 500, **kwargs: Any
) -> Iterator[Page]:
    """Every page of a query in turn (exports; bounded memory)."""
    cursor = kwargs.pop("cursor", None)
    kwargs.pop("limit", None)
    while True:
        page = query(limit=page_size, cursor=cursor, **kwargs)
        yield page
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def iter_events(
    query: Callable[..., Page], /, *, page_size: int = 500, **kwargs: Any
) -> Iterator[dict[str, Any]]:
    """Stream every event of a query page by page (exports; bounded memory).

    `iter_events(query_user_events, firm="f_1", user_id=7, start=a, end=b)`.
    """
    for page in iter_pages(query, page_size=page_size, **kwargs):
        yield from page.items


def get_event(
    *, firm: str, user_id: int | str | None, occurred_at: str, event_id: str
) -> dict[str, Any] | None:
    """One event by its full key (strongly consistent), or None."""
    response = call(
        "get_item",
        TableName=table_names().events,
        Key={
            "pk": {"S": user_pk(firm, user_id)},
            "sk": {"S": f"{occurred_at}#{event_id}"},
        },
        ConsistentRead=True,
    )
    item = response.get("Item")
    return decode_event(item, None) if item else None
