"""The calendar's counts the slow way: read every event, count per local day.

Not part of the app: the reference for tests of the counters, and the
baseline bench/calendar_query.py measures them against.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Collection
from typing import Any

from events_app.envelope import parse_instant
from events_app.names import EXPIRING
from events_app.store.client import paginate, table_names
from events_app.store.codec import check_name, user_pk
from events_app.store.counters import check_dates, zone_of


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
    key, which holds occurred_at): the reference the tests check the
    counters against, and the baseline of bench/calendar_query.py. Same
    arguments and result as `daily_counts`, cost proportional to the number
    of events.
    """
    check_dates(start_date, end_date)
    zone = zone_of(tz)
    uncounted = sorted(set(EXPIRING) | {check_name(n) for n in exclude_names or ()})
    one_day = dt.timedelta(days=1)
    values: dict[str, Any] = {
        ":pk": {"S": user_pk(firm, user_id)},
        ":lo": {"S": (start_date - one_day).isoformat()},
        ":hi": {"S": (end_date + 2 * one_day).isoformat()},
    }
    filters = []
    if names is not None:
        kept = sorted({check_name(n) for n in names} - set(uncounted))
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
    for item in paginate("query", **request):
        local = parse_instant(item["sk"]["S"]).astimezone(zone).date()
        if start_date <= local <= end_date:
            totals[local.isoformat()] += 1
    return {day: totals[day] for day in sorted(totals)}
