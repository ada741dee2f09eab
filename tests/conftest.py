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
