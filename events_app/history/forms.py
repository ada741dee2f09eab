"""Input of the event views and API: dates, instants, timezones, names, filters.

Every parser raises ValidationError with a message a person can act on, so
the views answer bad input with a 400 and that message, never a 500.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Mapping
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from events_app.history.selectors import AuditQuery
from hivelight.http import message_of
from tasks_app.models import Matter, User

MAX_RANGE_DAYS = 366
MAX_AUDIT_DAYS = 3660
_NAME_RE = re.compile(r"^[a-z][a-z_]*(\.[a-z_]*)?$")
_MAX_NAMES = 50
# An event name or prefix is short; longer input is refused, not queried.
MAX_NAME_LENGTH = 64
# The record spans these days: anything outside is a typing slip, and days
# near the ends of the calendar cannot be moved across timezones.
FIRST_DAY = dt.date(1970, 1, 1)
LAST_DAY = dt.date(2999, 12, 31)


def check_day(day: dt.date, what: str) -> dt.date:
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ValidationError(
            f"“{what}” must be between {FIRST_DAY.isoformat()} and "
            f"{LAST_DAY.isoformat()}."
        )
    return day


def parse_timezone(value: str | None, default: str) -> str:
    if value in (None, ""):
        return default
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise ValidationError(f"“{value[:60]}” is not a known IANA timezone.") from exc
    return value


def parse_date(value: str | None, what: str) -> dt.date:
    if value in (None, ""):
        raise ValidationError(f"“{what}” is required (YYYY-MM-DD).")
    try:
        day = dt.date.fromisoformat(value)
    except ValueError as exc:
        raise ValidationError(
            f"“{what}” must be a date as YYYY-MM-DD, not “{value[:40]}”."
        ) from exc
    return check_day(day, what)


def parse_instant(
    value: str | None, what: str, tz: str, *, end: bool = False
) -> dt.datetime:
    """An ISO 8601 instant; without an offset it is read in `tz`.

    A date alone means the whole day: its start for `from`, the start of the
    next day for `to` (so `to=2023-03-31` includes the 31st).
    """
    if value in (None, ""):
        raise ValidationError(f"“{what}” is required (ISO 8601).")
    text = value.strip()
    zone = zoneinfo.ZoneInfo(tz)
    if len(text) == 10:
        day = parse_date(text, what)
        if end:
            day += dt.timedelta(days=1)
        return dt.datetime.combine(day, dt.time(), zone)
    try:
        moment = dt.datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError as exc:
        raise ValidationError(
            f"“{what}” must be an ISO 8601 date or time, not “{value[:40]}”."
        ) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    check_day(moment.date(), what)
    return moment


def check_range(start: Any, end: Any, *, limit_days: int | None = None) -> None:
    """`from` not after `to`, and at most `limit_days` apart.

    Dates count inclusively (2023-01-01 to 2023-12-31 is 365 days); instants
    by their distance.
    """
    if start > end:
        raise ValidationError("“from” is after “to”.")
    if limit_days is None:
        return
    if isinstance(start, dt.datetime):
        too_long = end - start > dt.timedelta(days=limit_days)
    else:
        too_long = (end - start).days + 1 > limit_days
    if too_long:
        raise ValidationError(f"The range is longer than {limit_days} days.")


def parse_names(value: str | None) -> list[str] | None:
    if value in (None, ""):
        return None
    found = [n.strip() for n in value.split(",") if n.strip()]
    if not found or len(found) > _MAX_NAMES:
        raise ValidationError(f"“names” takes 1 to {_MAX_NAMES} event names.")
    for name in found:
        if len(name) > MAX_NAME_LENGTH:
            raise ValidationError(f"“{name[:60]}…” is not an event name.")
        if "." not in name or not _NAME_RE.match(name):
            raise ValidationError(f"“{name[:60]}” is not an event name.")
    return sorted(set(found))


def parse_prefix(value: str | None) -> str | None:
    if value in (None, ""):
        return None
    if len(value) > MAX_NAME_LENGTH or not _NAME_RE.match(value):
        raise ValidationError(
            f"“{value[:60]}” is not an event name prefix (like “task.”)."
        )
    return value


def parse_positive_int(value: str | None, what: str) -> int | None:
    if value in (None, ""):
        return None
    if not value.isascii() or not value.isdigit() or len(value) > 18:
        raise ValidationError(f"“{what}” must be a positive whole number.")
    number = int(value)
    if number < 1:
        raise ValidationError(f"“{what}” must be a positive whole number.")
    return number


def parse_flag(value: str | None, what: str) -> bool:
    """A checkbox or switch: absent, empty or 0 is off; 1, on or true is on."""
    if value in (None, "", "0", "false", "off"):
        return False
    if value in ("1", "on", "true"):
        return True
    raise ValidationError(f"“{what}” is 1 or 0, not “{value[:20]}”.")


def parse_limit(value: str | None, default: int = 100, maximum: int = 200) -> int:
    number = parse_positive_int(value, "limit")
    if number is None:
        return default
    if number > maximum:
        raise ValidationError(f"“limit” is at most {maximum}.")
    return number


# --- audit -------------------------------------------------------------------------


class AuditForm(forms.Form):
    """The audit search: who, which matter, which events, when (local days)."""

    user = forms.ChoiceField(label="Person", required=False)
    matter = forms.ChoiceField(label="Matter", required=False)
    name = forms.CharField(
        label="Event",
        required=False,
        max_length=60,
        help_text="A name or its start: task.completed, task., comment.",
        widget=forms.TextInput(attrs={"placeholder": "e.g. task.", "list": "names"}),
    )
    date_from = forms.DateField(
        label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label="To", widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(
        self,
        data: Mapping[str, Any] | None,
        *,
        people: list[User],
        matters: list[Matter],
        tz: str,
        today: dt.date,
    ) -> None:
        self.tz = tz
        defaults = {
            "date_from": (today - dt.timedelta(days=29)).isoformat(),
            "date_to": today.isoformat(),
        }
        merged = {**defaults, **{k: v for k, v in (data or {}).items() if v}}
        super().__init__(merged, label_suffix="")
        self.fields["user"].choices = [
            ("", "Anyone"),
            ("system", "Hivelight (automatic)"),
            *[(str(p.pk), p.display_name) for p in people],
        ]
        self.fields["matter"].choices = [
            ("", "Any matter"),
            *[(str(m.pk), f"{m.number} {m.name}") for m in matters],
        ]

    def clean_name(self) -> str | None:
        try:
            return parse_prefix(self.cleaned_data.get("name"))
        except ValidationError as exc:
            raise ValidationError(message_of(exc)) from exc

    def clean_date_from(self) -> dt.date:
        return check_day(self.cleaned_data["date_from"], "From")

    def clean_date_to(self) -> dt.date:
        return check_day(self.cleaned_data["date_to"], "To")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end:
            check_range(start, end, limit_days=MAX_AUDIT_DAYS)
        return data

    def query(self) -> AuditQuery:
        """The selection; call after is_valid()."""
        data = self.cleaned_data
        zone = zoneinfo.ZoneInfo(self.tz)
        user = data.get("user") or None
        return AuditQuery(
            start=dt.datetime.combine(data["date_from"], dt.time(), zone),
            end=dt.datetime.combine(
                data["date_to"] + dt.timedelta(days=1), dt.time(), zone
            ),
            user_id=user if user in (None, "system") else int(user),
            matter_id=int(data["matter"]) if data.get("matter") else None,
            name_prefix=data.get("name") or None,
        )

    def params(self) -> dict[str, str]:
        """The selection as query parameters, empty ones left out."""
        data = self.cleaned_data
        params = {
            "user": data.get("user") or "",
            "matter": data.get("matter") or "",
            "name": data.get("name") or "",
            "date_from": data["date_from"].isoformat(),
            "date_to": data["date_to"].isoformat(),
        }
        return {k: v for k, v in params.items() if v}

    def querystring(self) -> str:
        """The selection as a query string (exports, next pages)."""
        from django.utils.http import urlencode

        return urlencode(self.params())
