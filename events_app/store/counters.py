"""Activity counters: their layout, and reading counts per local day.

Per counted partition (a person, pk `U#<firm>#<user>`; a matter, pk
`M#<firm>#<matter>`) and per series (`*` = all counted events, `<family>.*`
e.g. `task.*`, an event name, or `~<key>` for each calendar filter of
`names.CALENDAR_FILTERS` the event matches; a matter keeps `*` and the
filter series only):
    day items      sk `D#<series>#<YYYY-MM-DD>`: t (the UTC day's total),
                   b0..b5 (4-hour blocks), h0..h23 (hours);
    quarter items  sk `Q#<series>#<HH>#<YYYY-MM-DD>`: q0..q3 (the four
                   15-minute slots of that UTC hour);
    both with v, a count of the writes to the item (recount's guard).
Every counted event ADDs to the day item and the quarter item of each of
its series (3, plus one per filter it matches), in its actor's partition
and, when it belongs to a matter and `names.is_counted_on_matter`, in its
matter's, all in the same TransactWriteItems as its conditional put (see
`writes`). A filter series makes a filtered calendar one Query, like the
plain one, instead of a sum of name series read at once; it holds what the
filter's definition matched when the event was written, so a changed
definition is rebuilt by the recount (`recount`).

A viewer's local midnight always falls on a quarter hour, so a local day
is a run of UTC slots: a year of calendar in a whole-hour zone is one Query
of ~370 day items (at most 32 numbers each, projected to 1-4), and a
:30/:45 zone adds one Query of ~370 quarter items of the boundary hour
(hour-major keys keep that hour's days contiguous). Small items matter: a
Query pays for whole items, projected or not.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import zoneinfo
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from events_app.names import (
    CALENDAR_FILTERS,
    DEFAULT_CALENDAR_FILTER,
    EXPIRING,
    HIDDEN_FROM_FEEDS,
    NOT_COUNTED_ON_MATTER,
    family,
    is_counted,
)
from events_app.store.client import paginate, table_names
from events_app.store.codec import check_name, matter_pk, user_pk

UTC = dt.UTC
SLOT_MINUTES = 15
SLOTS_PER_HOUR = 60 // SLOT_MINUTES
SLOTS_PER_DAY = 24 * SLOTS_PER_HOUR
HOURS_PER_BLOCK = 4
ALL_SERIES = "*"
# Sorts before letters, and no event name starts with it.
FILTER_MARK = "~"


def filter_series(key: str) -> str:
    """The series of one calendar filter: `~<key>`."""
    return f"{FILTER_MARK}{key}"


def _series_of(name: str, *, by_name: bool) -> tuple[str, ...]:
    filters = tuple(
        filter_series(f.key) for f in CALENDAR_FILTERS.values() if f.matches(name)
    )
    if not by_name:
        return (ALL_SERIES, *filters)
    return (ALL_SERIES, f"{family(name)}.*", name, *filters)


# Bump when the counters' layout changes in a way the names' rules do not show.
LAYOUT_VERSION = 2


def layout_fingerprint() -> str:
    """What decides which counters an event adds: the layout's version and
    the names' counting rules and filters. Stored by a full recount
    (`recount.put_layout`), so a deploy that changes a filter can tell its
    counters need one (`rebuild_activity_counts --if-changed`)."""
    rules = {
        "version": LAYOUT_VERSION,
        "not_counted": sorted(EXPIRING),
        "not_on_matter": sorted(NOT_COUNTED_ON_MATTER),
        "filters": [
            [f.key, f.names, f.name_prefix, sorted(f.exclude_names)]
            for f in CALENDAR_FILTERS.values()
        ],
        "hidden": sorted(HIDDEN_FROM_FEEDS),
    }
    text = json.dumps(rules, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _is_name_series(series: str) -> bool:
    return (
        series != ALL_SERIES
        and not series.endswith(".*")
        and not series.startswith(FILTER_MARK)
    )


def _day_sk(series: str, day: str) -> str:
    return f"D#{series}#{day}"


def _quarter_sk(series: str, hour: int, day: str) -> str:
    return f"Q#{series}#{hour:02d}#{day}"


def parse_counter_sk(sk: str) -> tuple[str, str, int | None, str]:
    """(kind "D" or "Q", series, hour or None, day) of a counter item's sort key."""
    kind, body, day = sk[0], sk[2:-11], sk[-10:]
    if kind == "Q":
        series, hour = body.rsplit("#", 1)
        return kind, series, int(hour), day
    return kind, body, None, day


def counter_updates(
    pk: str, name: str, occurred_at: str, *, by_name: bool = True
) -> list[tuple[tuple[str, str], tuple[str, ...]]]:
    """The counter items and attributes one event increments.

    `by_name=False` (a matter's partition) keeps `*` and the filter series
    only: its calendar reads nothing else, and each series costs two writes
    per event.
    """
    day = occurred_at[:10]
    hour = int(occurred_at[11:13])
    quarter = int(occurred_at[14:16]) // SLOT_MINUTES
    day_attrs = ("t", f"b{hour // HOURS_PER_BLOCK}", f"h{hour}")
    quarter_attrs = (f"q{quarter}",)
    updates = []
    for series in _series_of(name, by_name=by_name):
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
    excluded = {check_name(n) for n in exclude_names or ()}
    prefix = name_prefix or ""
    if prefix:
        check_name(prefix, "name prefix")
    if names is not None:
        chosen = sorted(
            n
            for n in {check_name(n) for n in names}
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


def numbers_of(item: dict[str, Any]) -> dict[str, int]:
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
    for item in paginate("query", **request):
        yield item["sk"]["S"], numbers_of(item)


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
            _, series, hour, day = parse_counter_sk(sk)
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
    pk: str,
    selection: _Selection,
    first_day: dt.date,
    last_day: dt.date,
    day_attrs: Iterable[str] | None,
    quarter_hours: dict[int, int],
) -> list[tuple[int, _SeriesCounters]]:
    """(sign, counters) for each series the selection adds or subtracts."""
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


def zone_of(tz: str | dt.tzinfo) -> dt.tzinfo:
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


def check_dates(start_date: dt.date, end_date: dt.date) -> None:
    if start_date > end_date:
        raise ValueError(f"start_date {start_date} is after end_date {end_date}")


def _filter_selection(
    calendar_filter: str | None,
    names: Collection[str] | None,
    name_prefix: str | None,
    exclude_names: Collection[str] | None,
) -> _Selection:
    if calendar_filter is None:
        return _select(names, name_prefix, exclude_names)
    if names is not None or name_prefix or exclude_names:
        raise ValueError("a calendar filter does not combine with name arguments")
    if calendar_filter not in CALENDAR_FILTERS:
        raise ValueError(f"unknown calendar filter {calendar_filter!r}")
    return _Selection(add=(filter_series(calendar_filter),))


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
    calendar_filter: str | None = None,
) -> dict[str, int]:
    """Events per local day of `tz`, for local days start_date..end_date inclusive.

    Returns {"YYYY-MM-DD": count} in date order, days without events omitted.
    Read from the counters (per series, one small projected item per UTC
    day), never from the events. Exact for any IANA zone whose local dates
    change on a quarter hour (every zone since 2012, including +5:30, +5:45
    and DST changes), and equal to `naive_daily_counts`. `names` (a set),
    `name_prefix` and `exclude_names` combine (AND); `calendar_filter` (a
    key of `names.CALENDAR_FILTERS`, alone) reads that filter's own series:
    one Query whatever the filter. Expiring names (`task.viewed`) are never
    counted. Raises ValueError for an unknown timezone or filter, or
    reversed dates.
    """
    return _daily_counts(
        pk=user_pk(firm, user_id),
        selection=_filter_selection(calendar_filter, names, name_prefix, exclude_names),
        start_date=start_date,
        end_date=end_date,
        tz=tz,
    )


def matter_daily_counts(
    *,
    firm: str,
    matter_id: int | str,
    start_date: dt.date,
    end_date: dt.date,
    tz: str | dt.tzinfo,
    calendar_filter: str = DEFAULT_CALENDAR_FILTER,
) -> dict[str, int]:
    """A matter's events per local day under one calendar filter (one Query).

    Counts the matter's events that `names.is_counted_on_matter`, whoever
    did them (the system included); as exact as `daily_counts`.
    """
    return _daily_counts(
        pk=matter_pk(firm, matter_id),
        selection=_filter_selection(calendar_filter, None, None, None),
        start_date=start_date,
        end_date=end_date,
        tz=tz,
    )


@dataclass(frozen=True)
class _DayPlan:
    """Which UTC days and counter attributes make up local days (read-only)."""

    first_day: dt.date
    last_day: dt.date
    # UTC day -> runs (first slot, end slot, local date) of a local day shown
    runs_by_day: dict[str, list[tuple[int, int, str]]]
    day_attrs: frozenset[str]
    quarter_hours: dict[int, int]


@lru_cache(maxsize=256)
def _day_plan(start_date: dt.date, end_date: dt.date, zone: dt.tzinfo) -> _DayPlan:
    """The plan of local days start_date..end_date in `zone`.

    Pure and the same for every calendar of a period and zone, so kept:
    working it out is a fifth of a year's read (two zone conversions a day).
    """
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
    return _DayPlan(
        first_day, last_day, runs_by_day, frozenset(day_attrs), quarter_hours
    )


def _daily_counts(
    *,
    pk: str,
    selection: _Selection,
    start_date: dt.date,
    end_date: dt.date,
    tz: str | dt.tzinfo,
) -> dict[str, int]:
    check_dates(start_date, end_date)
    zone = zone_of(tz)
    if selection.empty:
        return {}
    plan = _day_plan(start_date, end_date, zone)
    first_day, last_day = plan.first_day, plan.last_day
    runs_by_day = plan.runs_by_day
    day_attrs, quarter_hours = plan.day_attrs, plan.quarter_hours
    series_counters = _read_selection(
        pk=pk,
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
