"""Production settings come from the environment and pass Django's deploy checks.

Each case starts `manage.py` in a fresh process, because settings are read
once, at import, from the environment.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parent.parent

# Every variable hivelight/settings.py reads; the test's own values must not
# leak into the production-like process.
SETTINGS_VARIABLES = {
    "CHANNEL_LAYER",
    "CONN_HEALTH_CHECKS",
    "DATABASE_POOL",
    "DEBUG",
    "DIGEST_HOUR",
    "DIGEST_SECONDS",
    "REMINDER_SECONDS",
    "LOGIN_FAILURE_LIMIT",
    "LOGIN_LOCKOUT_SECONDS",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "CSRF_TRUSTED_ORIGINS",
    "DATABASE_URL",
    "CONN_MAX_AGE",
    "REDIS_URL",
    "CHANNELS_PREFIX",
    "CELERY_TASK_ALWAYS_EAGER",
    "OUTBOX_SWEEP_SECONDS",
    "OUTBOX_BATCH_SIZE",
    "PIPELINE_RETENTION_DAYS",
    "DYNAMODB_ENDPOINT_URL",
    "AWS_REGION",
    "EVENT_TABLE_PREFIX",
    "TASK_VIEWED_WINDOW_SECONDS",
    "TASK_VIEWED_RETENTION_DAYS",
    "AUDIT_SEAL_MARGIN_MINUTES",
    "AUDIT_SEAL_LATE_DAYS",
    "AUDIT_SEAL_SECONDS",
    "AUDIT_SEAL_EPOCH",
    "EMAIL_BACKEND",
    "EMAIL_URL",
    "DEFAULT_FROM_EMAIL",
    "SITE_URL",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "LOG_LEVEL",
    "HIVELIGHT_DATA_DIR",
    "WEBHOOK_REQUIRE_HTTPS",
    "WEBHOOK_ALLOWED_NETWORKS",
    "WEBHOOK_CONNECT_TIMEOUT",
    "WEBHOOK_READ_TIMEOUT",
    "WEBHOOK_MAX_RESPONSE_BYTES",
    "WEBHOOK_MAX_ATTEMPTS",
    "WEBHOOK_RETRY_BASE_SECONDS",
    "WEBHOOK_RETRY_MAX_SECONDS",
    "WEBHOOK_MAX_IN_FLIGHT",
    "WEBHOOK_CA_BUNDLE",
    "WEBHOOK_SWEEP_SECONDS",
    "EVENTBRIDGE_BUS_NAME",
    "EVENTBRIDGE_REGION",
    "EVENTBRIDGE_ENDPOINT_URL",
    "EVENTBRIDGE_SWEEP_SECONDS",
    # Test harness only (the browser fixture sets it); never in production.
    "DJANGO_ALLOW_ASYNC_UNSAFE",
}


def variables_read_by_settings() -> set[str]:
    source = (BASE_DIR / "hivelight" / "settings.py").read_text()
    return set(re.findall(r"\benv(?:\.\w+)?\(\s*\"([A-Z][A-Z0-9_]*)\"", source))


def test_every_settings_variable_is_documented_in_the_readme():
    read = variables_read_by_settings()
    readme = (BASE_DIR / "README.md").read_text()

    assert {"DEBUG", "SECRET_KEY", "DATABASE_URL", "REDIS_URL"} <= read
    assert {name for name in read if f"| `{name}` |" not in readme} == set()
    assert read <= SETTINGS_VARIABLES


def production_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS_VARIABLES}
    env.update(
        DJANGO_SETTINGS_MODULE="hivelight.settings",
        HIVELIGHT_DATA_DIR=str(tmp_path),
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="hivelight.example.com",
        CSRF_TRUSTED_ORIGINS="https://hivelight.example.com",
        DATABASE_URL="postgres://hivelight:s3cret@db.internal:5432/hivelight",
        REDIS_URL="redis://cache.internal:6379/0",
        DYNAMODB_ENDPOINT_URL="",
        AWS_REGION="eu-west-2",
        EMAIL_URL="smtp+tls://mailer:pw@smtp.example.com:587",
    )
    env.update(overrides)
    return env


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_deploy_check_is_clean_with_production_environment(tmp_path):
    result = manage(
        "check", "--deploy", "--fail-level", "WARNING", env=production_env(tmp_path)
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_environment_is_what_the_settings_use(tmp_path):
    """The env really switches the parts: PostgreSQL, Redis, SMTP, HTTPS."""
    code = (
        "from django.conf import settings as s;"
        "print(s.DEBUG, s.DATABASES['default']['ENGINE'],"
        " s.DATABASES['default']['HOST'], s.CELERY_BROKER_URL,"
        " s.CELERY_TASK_ALWAYS_EAGER, s.CHANNEL_LAYERS['default']['BACKEND'],"
        " s.EMAIL_HOST, s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE,"
        " repr(s.EVENT_STORE['ENDPOINT_URL']))"
    )

    result = manage("shell", "-v", "0", "-c", code, env=production_env(tmp_path))

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "False",
        "django.db.backends.postgresql",
        "db.internal",
        "redis://cache.internal:6379/0",
        "False",
        "channels_redis.core.RedisChannelLayer",
        "smtp.example.com",
        "True",
        "True",
        "''",
    ]


def test_kept_database_connections_are_health_checked_when_asked(tmp_path):
    """What `make serve` gives its workers: connections kept and checked."""
    code = (
        "from django.conf import settings as s;"
        "d = s.DATABASES['default'];"
        "print(d['CONN_MAX_AGE'], d['CONN_HEALTH_CHECKS'])"
    )
    kept = production_env(tmp_path, CONN_MAX_AGE="300", CONN_HEALTH_CHECKS="1")

    assert manage("shell", "-v", "0", "-c", code, env=kept).stdout.split() == [
        "300",
        "True",
    ]
    plain = production_env(tmp_path)
    assert manage("shell", "-v", "0", "-c", code, env=plain).stdout.split() == [
        "0",
        "False",
    ]


def test_production_sends_webhooks_only_over_https_to_public_addresses(tmp_path):
    code = (
        "from django.conf import settings as s;"
        "print(s.WEBHOOK_REQUIRE_HTTPS, s.WEBHOOK_ALLOWED_NETWORKS,"
        " repr(s.EVENTBRIDGE_BUS_NAME))"
    )

    result = manage("shell", "-v", "0", "-c", code, env=production_env(tmp_path))

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "[]", "''"]


def test_production_without_a_secret_key_refuses_to_start(tmp_path):
    env = production_env(tmp_path)
    del env["SECRET_KEY"]

    result = manage("check", env=env)

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "Set the SECRET_KEY environment variable" in result.stderr


def test_a_retention_under_a_day_refuses_to_start(tmp_path):
    env = production_env(tmp_path, PIPELINE_RETENTION_DAYS="0")

    result = manage("check", env=env)

    assert result.returncode != 0
    assert "PIPELINE_RETENTION_DAYS must be at least 1" in result.stderr


def test_production_with_a_weak_secret_key_fails_the_deploy_check(tmp_path):
    env = production_env(tmp_path, SECRET_KEY="django-insecure-too-short")

    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)

    assert result.returncode != 0
    assert "security.W009" in result.stderr + result.stdout


@pytest.mark.parametrize("debug", ["1", None])
def test_embedded_defaults_need_no_environment(tmp_path, debug):
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS_VARIABLES}
    env["HIVELIGHT_DATA_DIR"] = str(tmp_path)
    if debug is not None:
        env["DEBUG"] = debug
    code = (
        "from django.conf import settings as s;"
        "print(s.DEBUG, s.DATABASES['default']['ENGINE'], s.CELERY_TASK_ALWAYS_EAGER,"
        " s.CHANNEL_LAYERS['default']['BACKEND'])"
    )

    result = manage("shell", "-v", "0", "-c", code, env=env)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "True",
        "django.db.backends.sqlite3",
        "True",
        "channels.layers.InMemoryChannelLayer",
    ]
