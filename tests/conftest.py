"""Root test configuration: each fixture family lives in its own module.

`REQUIRE_SERVICES=1` (CI) turns every "service not available" skip into a
failure, so a green run always means the real services were exercised.
"""

import os

import pytest

pytest_plugins = [
    "tests.fixtures.factories",
    "tests.fixtures.dynamodb",
    "tests.fixtures.worker",
    "tests.fixtures.browser",
    "tests.fixtures.moto",
]

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"


def service_unavailable(reason: str) -> None:
    """Skip locally when a service is missing; fail in CI."""
    if REQUIRE_SERVICES:
        pytest.fail(f"required service unavailable: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Hashing strength is Django's business; tests only need logins to work."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _no_login_lockouts(settings):
    """Failed logins are counted in the shared cache across tests: only the
    test of the throttle itself sets a limit that can be reached."""
    settings.LOGIN_FAILURE_LIMIT = 1_000_000


@pytest.fixture(autouse=True)
def _no_stray_event_store(settings):
    """Tests that do not ask for `event_store` must never touch a real store.

    A transactional test relays after commit; without this it would write to
    whatever DynamoDB answers on the default endpoint (say, `make run`'s).
    The closed port makes such a relay fail at once and leave its rows in the
    outbox, which is what happens in production with the store down.
    """
    settings.EVENT_STORE = {
        **settings.EVENT_STORE,
        "ENDPOINT_URL": "http://127.0.0.1:9",
        "TABLE_PREFIX": "no_store_requested_",
    }
    from events_app import store

    store.reset_client()
