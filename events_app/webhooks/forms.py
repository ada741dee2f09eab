"""Input of the webhook pages: an endpoint's settings, list filters."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from events_app.webhooks import services

STATUS_FILTERS = {
    "": "All",
    "failed": "Failed",
    "pending": "Pending",
    "delivered": "Delivered",
}


class EndpointForm(forms.Form):
    """URL, description, patterns (one a line, or comma-separated), walls, on/off.

    The URL goes through the same check as sending (scheme, and every address
    its host resolves to now), so an address Hivelight will never send to is
    a form error here, not a surprise later.
    """

    url = forms.CharField(
        label="URL",
        max_length=2000,
        widget=forms.URLInput(attrs={"placeholder": "https://", "spellcheck": "false"}),
        help_text="Events are POSTed here as JSON. HTTPS, on a public address.",
    )
    description = forms.CharField(
        max_length=200,
        required=False,
        help_text="What receives them, e.g. “Billing system”.",
    )
    event_patterns = forms.CharField(
        label="Events",
        initial="*",
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
        help_text=(
            "One pattern a line: an event name (task.completed), a family "
            "(task.*), or * for every event."
        ),
    )
    is_enabled = forms.BooleanField(label="Enabled", required=False, initial=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    def clean_url(self) -> str:
        return services.clean_url(self.cleaned_data["url"])

    def clean_event_patterns(self) -> list[str]:
        raw = self.cleaned_data["event_patterns"]
        return services.clean_patterns(re.split(r"[\s,]+", raw))

    @classmethod
    def initial_of(cls, endpoint: Any) -> dict[str, Any]:
        return {
            "url": endpoint.url,
            "description": endpoint.description,
            "event_patterns": "\n".join(endpoint.event_patterns),
            "is_enabled": endpoint.is_enabled,
        }


def status_filter(source: Any) -> str:
    value = source.get("status") or ""
    if value not in STATUS_FILTERS:
        raise ValidationError(f"“{value[:40]}” is not a delivery status.")
    return value
