"""Input of the notification pages: preferences, page numbers, ids."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from events_app.models import NotificationPreference


class PreferenceForm(forms.ModelForm):
    class Meta:
        model = NotificationPreference
        fields = ["email_on_assignment", "email_on_mention"]
        labels = {
            "email_on_assignment": "Email me when a task is assigned to me",
            "email_on_mention": "Email me when someone @mentions me",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


def positive_int(name: str, source: Any) -> int | None:
    """An optional positive whole number from the query or form, else a 400."""
    raw = source.get(name)
    if raw in (None, ""):
        return None
    if not raw.isascii() or not raw.isdigit() or int(raw) < 1 or len(raw) > 18:
        raise ValidationError(f"“{raw[:40]}” is not a valid {name}.")
    return int(raw)
