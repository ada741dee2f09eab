"""A firm's sealing periods: its local days, tiling time without gaps. Pure.

A period is a local day of the firm's timezone: from its local midnight to
the next (23 or 25 hours across a DST change). Each period starts where the
one before ended, so seals cover time without a gap or an overlap even if
the firm's timezone changes between two periods: the period after a change
runs from the previous end to the next local midnight, and takes the next
unused day as its label (it may then be shorter or longer than a day).

A period is closed a margin after it ends (`AUDIT_SEAL_MARGIN_MINUTES`), so
events still being relayed when the day ends are stored before it is sealed.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass

UTC = dt.UTC


@dataclass(frozen=True)
class Period:
    """One sealing period: a local day's label and its [start, end) in UTC."""

    day: dt.date
    start: dt.datetime
    end: dt.datetime

    def is_closed(self, *, now: dt.datetime, margin: dt.timedelta) -> bool:
        return now >= self.end + margin


def local_midnight(day: dt.date, tz: str) -> dt.datetime:
    """The instant (UTC) a local day starts in `tz`."""
    zone = zoneinfo.ZoneInfo(tz)
    return dt.datetime.combine(day, dt.time(), zone).astimezone(UTC)


def local_day(moment: dt.datetime, tz: str) -> dt.date:
    return moment.astimezone(zoneinfo.ZoneInfo(tz)).date()


def first_period(day: dt.date, tz: str) -> Period:
    """The first period of a chain: the whole local day `day`."""
    return Period(
        day, local_midnight(day, tz), local_midnight(day + dt.timedelta(1), tz)
    )


def period_after(*, day: dt.date, end: dt.datetime, tz: str) -> Period:
    """The period following the one labelled `day` that ended at `end`."""
    label = max(local_day(end, tz), day + dt.timedelta(days=1))
    return Period(label, end, local_midnight(label + dt.timedelta(days=1), tz))
