"""Sets the event context for each web request: who, which request, which tab."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from events_app.context import acting_as
from events_app.live.groups import live_client_id


class EventContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        source = "admin" if request.path.startswith("/admin/") else "web"
        request_id = request.headers.get("X-Request-ID", "")[:64]
        extra = {"request_id": request_id} if request_id else {}
        client_id = live_client_id(request.headers.get("X-Live-Client", ""))
        if client_id:
            extra["client_id"] = client_id
        with acting_as(request.user, source=source, **extra):
            return self.get_response(request)
