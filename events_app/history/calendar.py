"""The activity calendar as data: a year of days in weeks, levels, streaks.

Pure: no ORM, no I/O. Counts come in as {"YYYY-MM-DD": n} (store.daily_counts
in the viewer's timezone); out comes what the SVG template draws. These are
the only copy of the level and streak rules: static/js/calendar.js keeps the
grid current while the page is open by fetching it again from the server.
The filters it offers are `names.CALENDAR_FILTERS`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

# Geometry of the SVG grid (user units; the SVG scales to its box).
CELL = 11
GAP = 3
STEP = CELL + GAP
LEFT = 32  # room for weekday labels
TOP = 18  # room for month labels
LEVELS = 5  # 0 (no events) to 4
WEEKDAY_LABELS = {0: "Mon", 2: "Wed", 4: "Fri"}
# A month label needs this many columns before the next one.
MONTH_LABEL_COLUMNS = 3


@dataclass(frozen=True)
class Day:
    date: dt.date
    count: int
    level: int
    week: int
    weekday: int

    @property
    def key(self) -> str:
        return self.date.isoformat()

    @property
    def label(self) -> str:
        return day_label(self.date, self.count)

    @property
    def long_date(self) -> str:
        return long_date(self.date)

    @property
    def x(self) -> int:
        return LEFT + self.week * STEP

    @property
    def y(self) -> int:
        return TOP + self.weekday * STEP


@dataclass(frozen=True)
class Label:
    x: int
    y: int
    text: str


@dataclass
class Calendar:
    start: dt.date
    end: dt.date
    weeks: int
    days: list[Day]
    months: list[Label]
    weekdays: list[Label]
    thresholds: list[int]
    total: int
    active_days: int
    longest_streak: int
    busiest: Day | None = None
    legend: list[int] = field(default_factory=lambda: list(range(LEVELS)))

    @property
    def width(self) -> int:
        return LEFT + self.weeks * STEP

    @property
    def height(self) -> int:
        return TOP + 7 * STEP

    @property
    def cell(self) -> int:
        return CELL


def long_date(day: dt.date) -> str:
    """`Monday 27 March 2023`."""
    return f"{day:%A} {day.day} {day:%B %Y}"


def day_label(day: dt.date, count: int) -> str:
    """`23 events on Monday 27 March 2023` (the tooltip and accessible name)."""
    if count == 0:
        amount = "No events"
    elif count == 1:
        amount = "1 event"
    else:
        amount = f"{count} events"
    return f"{amount} on {long_date(day)}"


def thresholds(counts: Iterable[int]) -> list[int]:
    """Upper bounds of levels 1-3 (the quartiles of the non-zero day counts),
    then the busiest day's count.

    Scaled to the person: their quiet days are level 1, their busiest quarter
    level 4 whatever their volume, and their busiest day always level 4 (a
    lone active day is not drawn as a quiet one).
    """
    busy = sorted(c for c in counts if c > 0)
    if not busy:
        return []
    last = len(busy) - 1
    return [busy[last * k // 4] for k in (1, 2, 3)] + [busy[-1]]


def level(count: int, bounds: list[int]) -> int:
    if count <= 0:
        return 0
    if bounds and count >= bounds[-1]:
        return 4
    return min(4, 1 + sum(1 for bound in bounds[:3] if count > bound))


def longest_streak(days: Iterable[tuple[dt.date, int]]) -> int:
    """The most consecutive days with at least one event."""
    best = run = 0
    previous: dt.date | None = None
    for day, count in sorted(days):
        if count <= 0:
            run = 0
        elif previous is not None and day - previous == dt.timedelta(days=1) and run:
            run += 1
        else:
            run = 1
        previous = day
        best = max(best, run)
    return best


def period(*, today: dt.date, year: int | None = None) -> tuple[dt.date, dt.date]:
    """The days a calendar shows: a calendar year, or the 53 weeks to today.

    Days after today are never shown; the rolling period starts on the
    Monday 52 weeks before this week's Monday.
    """
    if year is not None:
        return dt.date(year, 1, 1), min(dt.date(year, 12, 31), today)
    monday = today - dt.timedelta(days=today.weekday())
    return monday - dt.timedelta(weeks=52), today


def build(*, counts: Mapping[str, int], start: dt.date, end: dt.date) -> Calendar:
    """Lay out start..end as weeks (columns, Monday first) of days (rows)."""
    if end < start:
        end = start
    origin = start - dt.timedelta(days=start.weekday())
    span = (end - start).days + 1
    values = [
        counts.get((start + dt.timedelta(days=i)).isoformat(), 0) for i in range(span)
    ]
    bounds = thresholds(values)
    days = []
    for i, count in enumerate(values):
        day = start + dt.timedelta(days=i)
        offset = (day - origin).days
        days.append(
            Day(
                date=day,
                count=count,
                level=level(count, bounds),
                week=offset // 7,
                weekday=offset % 7,
            )
        )
    weeks = days[-1].week + 1
    firsts = [days[0]] + [d for d in days[1:] if d.date.day == 1]
    # A first, partial month gives way when the next label would crowd it.
    if len(firsts) > 1 and firsts[1].week - firsts[0].week < MONTH_LABEL_COLUMNS:
        firsts.pop(0)
    months = [Label(d.x, TOP - 6, f"{d.date:%b}") for d in firsts]
    weekdays = [
        Label(0, TOP + row * STEP + CELL - 2, text)
        for row, text in WEEKDAY_LABELS.items()
    ]
    busiest = max(days, key=lambda d: (d.count, d.date)) if any(values) else None
    return Calendar(
        start=start,
        end=end,
        weeks=weeks,
        days=days,
        months=months,
        weekdays=weekdays,
        thresholds=bounds,
        total=sum(values),
        active_days=sum(1 for v in values if v),
        longest_streak=longest_streak((d.date, d.count) for d in days),
        busiest=busiest,
    )
