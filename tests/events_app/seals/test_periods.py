"""Sealing periods: local days that tile time, whatever the timezone does."""

from __future__ import annotations

import datetime as dt

import pytest

from events_app.seals.periods import first_period, local_midnight, period_after

UTC = dt.UTC


def hours(period) -> float:
    return (period.end - period.start).total_seconds() / 3600


@pytest.mark.parametrize(
    ("tz", "day", "length"),
    [
        ("Europe/London", dt.date(2023, 3, 26), 23),
        ("Europe/London", dt.date(2023, 10, 29), 25),
        ("America/New_York", dt.date(2023, 3, 12), 23),
        ("Asia/Kathmandu", dt.date(2023, 3, 12), 24),
        ("UTC", dt.date(2024, 2, 29), 24),
    ],
)
def test_a_period_is_the_firms_local_day(tz, day, length):
    period = first_period(day, tz)

    assert hours(period) == length
    assert period.start == local_midnight(day, tz)


def test_consecutive_periods_meet_exactly():
    period = first_period(dt.date(2023, 3, 24), "Europe/London")
    for _ in range(10):
        following = period_after(day=period.day, end=period.end, tz="Europe/London")
        assert following.start == period.end
        assert following.day == period.day + dt.timedelta(days=1)
        period = following


def test_after_a_timezone_change_the_next_period_starts_where_the_last_ended():
    london = first_period(dt.date(2023, 3, 10), "Europe/London")

    # New York is five hours behind: at London's midnight it is still the 10th.
    west = period_after(day=london.day, end=london.end, tz="America/New_York")
    # Tokyo is nine hours ahead: London's midnight is 09:00 on the 11th.
    east = period_after(day=london.day, end=london.end, tz="Asia/Tokyo")

    assert west.start == east.start == london.end
    assert west.day == dt.date(2023, 3, 11)
    assert west.end == dt.datetime(2023, 3, 12, 5, tzinfo=UTC)
    assert hours(west) == 29
    assert east.day == dt.date(2023, 3, 11)
    assert hours(east) == 15


def test_a_period_closes_a_margin_after_it_ends():
    period = first_period(dt.date(2023, 3, 10), "UTC")
    margin = dt.timedelta(minutes=60)

    assert not period.is_closed(
        now=period.end + dt.timedelta(minutes=59), margin=margin
    )
    assert period.is_closed(now=period.end + margin, margin=margin)
