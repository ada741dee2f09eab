"""Template context shared by every page: the user's firm and membership."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from tasks_app.selectors import membership_for


def navigation(request: HttpRequest) -> dict[str, Any]:
    membership = membership_for(request.user)
    return {
        "membership": membership,
        "firm": membership.firm if membership else None,
    }
