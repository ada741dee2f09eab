"""Fixtures for live-page browser tests: a real ASGI server and logged-in tabs.

pytest-django's `live_server` speaks WSGI only, so websockets need another
server: `asgi_server` runs daphne (`hivelight.asgi:application`) in a
subprocess on a free port, against the test database and the test's Redis,
with Celery non-eager, so every change is relayed and handled by the
`celery_worker` the test also requests, and handlers reach the browsers
through channels-redis, as in production.

`open_as("bob")` opens a fresh browser context (own cookies) on that server,
logged in as Bob.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.conftest import service_unavailable

BASE_DIR = Path(__file__).resolve().parents[2]
READY_TIMEOUT = 30.0


@dataclass
class AsgiServer:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/login/", timeout=1) as response:  # noqa: S310
            return response.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def asgi_server(
    django_db_setup: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AsgiServer]:
    """Daphne serving the app on the test database, for one test module."""
    from django.conf import settings
    from django.db import connection

    from events_app.store.local import free_port
    from tests.fixtures.worker import _database_url

    if connection.vendor != "postgresql":
        service_unavailable("the live ASGI server shares the test database: PostgreSQL")
    if "channels_redis" not in settings.CHANNEL_LAYERS["default"]["BACKEND"]:
        service_unavailable("live pages across processes need REDIS_URL")

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = tmp_path_factory.mktemp("daphne") / "daphne.log"
    env = dict(os.environ)
    # Never the default endpoint (a developer's `make run` store): the store
    # this test set up, unless the module named one in the environment.
    if "DYNAMODB_ENDPOINT_URL" not in os.environ:
        env["DYNAMODB_ENDPOINT_URL"] = settings.EVENT_STORE["ENDPOINT_URL"]
        env["EVENT_TABLE_PREFIX"] = settings.EVENT_STORE["TABLE_PREFIX"]
    env.update(
        DJANGO_SETTINGS_MODULE=os.environ.get(
            "DJANGO_SETTINGS_MODULE", "hivelight.settings"
        ),
        DATABASE_URL=_database_url(connection.settings_dict),
        REDIS_URL=settings.REDIS_URL,
        CELERY_TASK_ALWAYS_EAGER="0",
        # DEBUG serves static files (WhiteNoise with finders), as `make run`.
        DEBUG="1",
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
        # Failed logins of other tests share the cache (Redis): never let
        # them lock a browser test's login.
        LOGIN_FAILURE_LIMIT="1000000",
    )
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(port),
                "hivelight.asgi:application",
            ],
            cwd=BASE_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = AsgiServer(url=url, process=process, log_path=log_path)
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while not _ready(url):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"daphne did not start:\n{server.log()[-4000:]}")
            time.sleep(0.1)
        yield server
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


# Records every live payload a page receives, for the tests to inspect.
RECORD_LIVE = """
window.__live = [];
document.addEventListener("hivelight:live", (e) => window.__live.push(e.detail));
"""


@pytest.fixture
def open_as(chromium: Any, asgi_server: AsgiServer) -> Iterator[Callable[[str], Any]]:
    """`open_as(username)`: a logged-in page (home) of its own browser context.

    The session is made here and handed to the browser as its cookie: the
    test process hashes passwords with a test-only hasher that the server
    process does not have, and the login form has its own tests.
    """
    from django.conf import settings

    from tasks_app.models import User
    from tests.events_app.live_helpers import session_key

    contexts: list[Any] = []

    def _open(username: str) -> Any:
        context = chromium.new_context(
            base_url=asgi_server.url, viewport={"width": 1366, "height": 900}
        )
        context.set_default_timeout(10_000)
        context.add_init_script(RECORD_LIVE)
        context.add_cookies(
            [
                {
                    "name": settings.SESSION_COOKIE_NAME,
                    "value": session_key(User.objects.get(username=username)),
                    "url": asgi_server.url,
                }
            ]
        )
        contexts.append(context)
        page = context.new_page()
        page.goto("/")
        if urlsplit(page.url).path != "/":
            pytest.fail(
                f"{username} is not logged in ({page.url}):\n"
                f"--- daphne ---\n{asgi_server.log()[-4000:]}",
                pytrace=False,
            )
        return page

    try:
        yield _open
    finally:
        for context in contexts:
            context.close()
