"""Shared view helpers: who wants JSON, login for fragments, errors as answers.

Every view of both apps maps errors the same way, through `action`: bad
input (ValidationError) is a 400 with its message, a refused action
(PermissionDenied) a 403 with the reason, a backing service that cannot
answer (ServiceUnavailable, e.g. the event store) a 503 that says so, and an
object the user may not see a 404 (a wall leaks nothing). Nothing a user
sends can make a view fail with a 500. Imports nothing from the apps.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.decorators import login_required as page_login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render, resolve_url
from django.urls import Resolver404, resolve
from django.utils.http import url_has_allowed_host_and_scheme, urlencode

logger = logging.getLogger(__name__)

View = Callable[..., HttpResponse]

SESSION_ENDED = "Your session has ended. Please log in again."
# What the events API has always answered an anonymous caller.
LOG_IN_FIRST = "Log in first."


class ServiceUnavailable(Exception):
    """A backing service cannot answer just now: a 503 that says so.

    Subclasses set `public_message`, what a person reads; the exception's
    own text (often technical) goes to the log only.
    """

    public_message = "That is unavailable just now. Please try again shortly."


def wants_json(request: HttpRequest) -> bool:
    """Only an explicit JSON Accept header counts (browsers accept */*)."""
    return request.headers.get("Accept", "").startswith("application/json")


def message_of(exc: ValidationError) -> str:
    return " ".join(exc.messages) or "That request could not be carried out."


def local_url(request: HttpRequest, url: str, default: str) -> str:
    """`url` if it stays on this site, else `default` (no open redirects)."""
    if url and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return url
    return default


def next_url(request: HttpRequest, default: str) -> str:
    """The request's `next` (POST or GET) if it is local, else `default`."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    return local_url(request, candidate, default)


def error_response(
    request: HttpRequest, message: str, status: int, *, json: bool = False
) -> HttpResponse:
    """An error in the caller's format: JSON, plain text for htmx, or a page."""
    if json or wants_json(request):
        return JsonResponse({"error": message}, status=status)
    if getattr(request, "htmx", False):
        return HttpResponse(message, status=status, content_type="text/plain")
    return render(
        request,
        "action_error.html",
        {"message": message, "status": status, "back": next_url(request, "")},
        status=status,
    )


def action(view: View | None = None, *, json: bool = False) -> Any:
    """Answer refusals and failures with their status and message, never a 500.

    Http404 is re-raised for pages so the site's own 404 page is shown; htmx
    and JSON callers (and views marked `json=True`, the API) get its message
    like every other error.
    """

    def decorate(func: View) -> View:
        @functools.wraps(func)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                return func(request, *args, **kwargs)
            except ValidationError as exc:
                return error_response(request, message_of(exc), 400, json=json)
            except PermissionDenied as exc:
                message = str(exc) or "You may not do that."
                return error_response(request, message, 403, json=json)
            except Http404 as exc:
                if json or wants_json(request) or getattr(request, "htmx", False):
                    message = str(exc) or "Not found."
                    return error_response(request, message, 404, json=json)
                raise
            except ServiceUnavailable as exc:
                logger.warning("%s unavailable: %s", request.path, exc, exc_info=True)
                return error_response(request, exc.public_message, 503, json=json)

        return wrapper

    return decorate(view) if view is not None else decorate


def login_required(view: View | None = None, *, json: bool = False) -> Any:
    """Django's login_required, except that htmx and JSON callers get a 401.

    A fragment fetched after the session ended would otherwise swap the login
    page into the board; htmx follows HX-Redirect to the login page instead,
    coming back to the page the person was on.
    """

    def decorate(func: View) -> View:
        page_view = page_login_required(func)

        @functools.wraps(func)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            htmx = getattr(request, "htmx", None)
            if request.user.is_authenticated:
                return func(request, *args, **kwargs)
            if json:
                return JsonResponse({"error": LOG_IN_FIRST}, status=401)
            if wants_json(request):
                return JsonResponse({"error": SESSION_ENDED}, status=401)
            if not htmx:
                return page_view(request, *args, **kwargs)
            response = HttpResponse(
                SESSION_ENDED, status=401, content_type="text/plain"
            )
            current = urlsplit(htmx.current_url or "")
            back = current.path + (f"?{current.query}" if current.query else "")
            login = resolve_url(settings.LOGIN_URL)
            response["HX-Redirect"] = (
                f"{login}?{urlencode({REDIRECT_FIELD_NAME: back})}" if back else login
            )
            return response

        return wrapper

    return decorate(view) if view is not None else decorate


def not_found(request: HttpRequest, message: str = "") -> HttpResponse:
    """The product's own 404: the same page for missing and hidden."""
    if wants_json(request) or getattr(request, "htmx", False):
        return error_response(request, message or "Not found.", 404)
    return render(request, "404.html", status=404)


def denied(request: HttpRequest, message: str = "") -> HttpResponse:
    """The product's own 403, with the reason."""
    message = message or "You may not do that."
    if wants_json(request) or getattr(request, "htmx", False):
        return error_response(request, message, 403)
    return render(request, "403.html", {"exception": message}, status=403)


class ErrorPagesMiddleware:
    """The product's 404 and 403 pages in every setup, `make run`'s DEBUG too.

    With DEBUG on, Django answers a missing page with its technical page,
    which lists every URL pattern: exactly where walls are shown off. This
    answers first: an address that resolves to no view, and a view that
    raises Http404 or PermissionDenied, get the same pages as in production
    (CommonMiddleware, outside this one, still adds a missing slash).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            resolve(request.path_info, urlconf=getattr(request, "urlconf", None))
        except Resolver404:
            return not_found(request)
        return self.get_response(request)

    def process_exception(
        self, request: HttpRequest, exception: Exception
    ) -> HttpResponse | None:
        if isinstance(exception, Http404):
            return not_found(request, str(exception))
        if isinstance(exception, PermissionDenied):
            return denied(request, str(exception))
        return None
