"""Settings, read from the environment with defaults that need no server.

With nothing set, Hivelight runs on one machine: SQLite under `.data/`, the
in-memory channel layer, Celery tasks run inline after commit, and DynamoDB
Local on 127.0.0.1:8001. Production sets DATABASE_URL, REDIS_URL, SECRET_KEY,
ALLOWED_HOSTS, DEBUG=0 and the AWS settings; see README.md for every variable.
"""

import os
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()
DATA_DIR = Path(env.str("HIVELIGHT_DATA_DIR", default=str(BASE_DIR / ".data")))

DEBUG = env.bool("DEBUG", default=True)
# The embedded default key is only for `make run`; DEBUG=0 without SECRET_KEY fails.
SECRET_KEY = env.str(
    "SECRET_KEY",
    default="django-insecure-hivelight-local-only" if DEBUG else environ.Env.NOTSET,
)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "channels",
    "tasks_app",
    "events_app",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "events_app.middleware.EventContextMiddleware",
    "tasks_app.middleware.UserTimezoneMiddleware",
    # Innermost: the request has its user and htmx details for the pages.
    "hivelight.http.ErrorPagesMiddleware",
]

ROOT_URLCONF = "hivelight.urls"
WSGI_APPLICATION = "hivelight.wsgi.application"
ASGI_APPLICATION = "hivelight.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "tasks_app.context_processors.navigation",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'db.sqlite3'}")
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # `make run`'s SQLite with several requests at once: writers queue for the
    # lock (IMMEDIATE, with a timeout) instead of failing "database is
    # locked", and readers do not wait for writers (WAL).
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=0))
# With kept connections (CONN_MAX_AGE > 0), check one before reusing it after
# a pause, so a restarted database costs a reconnect, not a failed request.
# (Set, not setdefault: env.db() already puts a False there.)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool(
    "CONN_HEALTH_CHECKS", default=False
)
# DATABASE_POOL=N: a psycopg pool of at most N connections per process
# (PostgreSQL only). Under ASGI each request's sync code runs on a thread
# of its own, so kept connections (CONN_MAX_AGE) would be one per thread
# ever made; a pool hands each request a connection and takes it back.
DATABASE_POOL = env.int("DATABASE_POOL", default=0)
if DATABASE_POOL and DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": DATABASE_POOL,
        "timeout": 10,
    }

AUTH_USER_MODEL = "tasks_app.User"
LOGIN_URL = "login"
# After this many failed logins for one username from one address, further
# tries are refused (without checking the password) for LOGIN_LOCKOUT_SECONDS.
LOGIN_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
LOGIN_LOCKOUT_SECONDS = env.int("LOGIN_LOCKOUT_SECONDS", default=900)
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

_VALIDATORS = "django.contrib.auth.password_validation."
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": _VALIDATORS + "UserAttributeSimilarityValidator"},
    {"NAME": _VALIDATORS + "MinimumLengthValidator"},
    {"NAME": _VALIDATORS + "CommonPasswordValidator"},
    {"NAME": _VALIDATORS + "NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: Celery broker and channel layer -----------------------------------
REDIS_URL = env.str("REDIS_URL", default="")

# CHANNEL_LAYER: "core" (channels-redis's stored per-channel lists, the
# default) or "pubsub" (its Redis pub/sub layer: one PUBLISH per group
# message, at-most-once).
CHANNEL_LAYER = env.str("CHANNEL_LAYER", default="core")
if CHANNEL_LAYER not in ("core", "pubsub"):
    raise ImproperlyConfigured("CHANNEL_LAYER must be 'core' or 'pubsub'.")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": (
                "channels_redis.pubsub.RedisPubSubChannelLayer"
                if CHANNEL_LAYER == "pubsub"
                else "channels_redis.core.RedisChannelLayer"
            ),
            "CONFIG": {
                # channels-redis waits 5 s per blocking read; redis-py (8+)
                # times reads out after 5 s by default, which would kill
                # every idle websocket consumer. Reads must outwait the layer.
                "hosts": [{"address": REDIS_URL, "socket_timeout": 30}],
                "prefix": env.str("CHANNELS_PREFIX", default="hivelight"),
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# The cache dedupes `task.viewed` across processes, so it lives in Redis too.
CACHES = {
    "default": (
        {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CHANNELS_PREFIX", default="hivelight"),
        }
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
# Without a broker every task runs inline, after the commit that enqueued it.
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A publish to an unreachable broker fails fast; the outbox sweeper re-relays.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
    "socket_connect_timeout": 2,
    "socket_timeout": 5,
}
# Publishing happens after commit, in the request: give up quickly, since the
# outbox keeps the events and the sweeper relays them when the broker is back.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}
CELERY_BEAT_SCHEDULE = {
    "outbox-sweep": {
        "task": "events_app.tasks.outbox_sweep",
        "schedule": env.float("OUTBOX_SWEEP_SECONDS", default=30.0),
    },
    "webhook-sweep": {
        "task": "events_app.tasks.webhook_sweep",
        "schedule": env.float("WEBHOOK_SWEEP_SECONDS", default=30.0),
    },
    "eventbridge-sweep": {
        "task": "events_app.tasks.eventbridge_publish",
        "schedule": env.float("EVENTBRIDGE_SWEEP_SECONDS", default=30.0),
    },
    # Every quarter hour: each person's own "tomorrow" and "morning" come
    # at their own time, and some timezones are half or quarter hours off.
    "due-reminders": {
        "task": "events_app.tasks.due_reminders",
        "schedule": env.float("REMINDER_SECONDS", default=900.0),
    },
    "morning-digests": {
        "task": "events_app.tasks.morning_digests",
        "schedule": env.float("DIGEST_SECONDS", default=900.0),
    },
    # Delivered outbox rows, the ledger and sent EventBridge entries past
    # PIPELINE_RETENTION_DAYS, in batches.
    "prune-pipeline": {
        "task": "events_app.tasks.prune_pipeline",
        "schedule": 3600.0,
    },
    # Cheap when nothing is due: one read of each firm's newest seal.
    "seal-audit-trails": {
        "task": "events_app.tasks.seal_audit_trails",
        "schedule": env.float("AUDIT_SEAL_SECONDS", default=900.0),
    },
}
# The local hour from which each person's morning digest goes out.
DIGEST_HOUR = env.int("DIGEST_HOUR", default=7)
# Webhook deliveries and EventBridge puts wait on other people's servers:
# they have a queue (and workers) of their own, `outbound`, so a slow
# receiver never holds up the relay or the reactions. See README.md.
CELERY_TASK_ROUTES = {
    "events_app.tasks.deliver_webhook": {"queue": "outbound"},
    "events_app.tasks.eventbridge_publish": {"queue": "outbound"},
}

# Events stored and published per relay batch (one DynamoDB transaction holds
# up to 100 items, so a batch is written as several transactions).
OUTBOX_BATCH_SIZE = env.int("OUTBOX_BATCH_SIZE", default=200)
# Days delivered outbox rows, the handlers' ledger and sent EventBridge
# entries are kept (events_app/outbox/retention.py). A handler's ledger row
# must outlive every redelivery of its event (Celery's retries end within
# the hour), so at least a day.
PIPELINE_RETENTION_DAYS = env.int("PIPELINE_RETENTION_DAYS", default=7)
if PIPELINE_RETENTION_DAYS < 1:
    raise ImproperlyConfigured("PIPELINE_RETENTION_DAYS must be at least 1 (days).")

# --- Event store (DynamoDB API) ------------------------------------------------
EVENT_STORE = {
    # Empty endpoint means Amazon DynamoDB itself (credentials from the usual
    # AWS chain); the default is DynamoDB Local as `make run` starts it.
    "ENDPOINT_URL": env.str("DYNAMODB_ENDPOINT_URL", default="http://127.0.0.1:8001"),
    "REGION": env.str("AWS_REGION", default="eu-west-2"),
    "TABLE_PREFIX": env.str("EVENT_TABLE_PREFIX", default="hivelight_"),
}
if EVENT_STORE["ENDPOINT_URL"]:
    # DynamoDB Local accepts any credentials; these never reach AWS.
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")

# --- Sealed audit trail ----------------------------------------------------------
# A firm's day (in its timezone) is sealed this long after it ends, so events
# still being relayed at midnight are stored before their day is sealed.
AUDIT_SEAL_MARGIN_MINUTES = env.int("AUDIT_SEAL_MARGIN_MINUTES", default=60)
# Days before the first unsealed one that each sealing run reads again for
# events stored after their day was sealed (sealed as late in the next seal).
AUDIT_SEAL_LATE_DAYS = env.int("AUDIT_SEAL_LATE_DAYS", default=7)
# The earliest day a firm's first seal looks for events from (YYYY-MM-DD).
AUDIT_SEAL_EPOCH = env.str("AUDIT_SEAL_EPOCH", default="2020-01-01")

# `task.viewed` is recorded at most once per user and task in this window.
TASK_VIEWED_WINDOW_SECONDS = env.int("TASK_VIEWED_WINDOW_SECONDS", default=1800)
# Days a `task.viewed` event is kept before DynamoDB TTL removes it.
TASK_VIEWED_RETENTION_DAYS = env.int("TASK_VIEWED_RETENTION_DAYS", default=90)

# --- Webhooks and Amazon EventBridge ----------------------------------------------
# Production sends only over HTTPS, and never to private, loopback or
# link-local addresses; `make run` and the tests may send to this machine.
WEBHOOK_REQUIRE_HTTPS = env.bool("WEBHOOK_REQUIRE_HTTPS", default=not DEBUG)
WEBHOOK_ALLOWED_NETWORKS = env.list(
    "WEBHOOK_ALLOWED_NETWORKS", default=["127.0.0.0/8", "::1/128"] if DEBUG else []
)
WEBHOOK_CONNECT_TIMEOUT = env.float("WEBHOOK_CONNECT_TIMEOUT", default=5.0)
# The most one attempt waits for the whole answer once connected.
WEBHOOK_READ_TIMEOUT = env.float("WEBHOOK_READ_TIMEOUT", default=10.0)
WEBHOOK_MAX_RESPONSE_BYTES = env.int("WEBHOOK_MAX_RESPONSE_BYTES", default=65536)
# Attempts of one delivery, and the exponential backoff between them: 17
# attempts from 30 s doubling to at most 12 h span about three days.
WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", default=17)
WEBHOOK_RETRY_BASE_SECONDS = env.float("WEBHOOK_RETRY_BASE_SECONDS", default=30.0)
WEBHOOK_RETRY_MAX_SECONDS = env.float("WEBHOOK_RETRY_MAX_SECONDS", default=43200.0)
# Attempts in flight at once per endpoint, so one slow receiver cannot take
# every webhook worker.
WEBHOOK_MAX_IN_FLIGHT = env.int("WEBHOOK_MAX_IN_FLIGHT", default=2)
# CA certificates to trust for HTTPS receivers (empty: the system's).
WEBHOOK_CA_BUNDLE = env.str("WEBHOOK_CA_BUNDLE", default="")

# Every stored event is also put on this Amazon EventBridge bus; empty: off.
EVENTBRIDGE_BUS_NAME = env.str("EVENTBRIDGE_BUS_NAME", default="")
EVENTBRIDGE_REGION = env.str(
    "EVENTBRIDGE_REGION", default=env.str("AWS_REGION", default="eu-west-2")
)
# Empty: Amazon EventBridge itself (credentials from the usual AWS chain).
EVENTBRIDGE_ENDPOINT_URL = env.str("EVENTBRIDGE_ENDPOINT_URL", default="")

# --- Email -------------------------------------------------------------------
EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend"
)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="hivelight@localhost")
# Where emails' links point: the address people open Hivelight at.
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")
EMAIL_URL = env.str("EMAIL_URL", default="")
if EMAIL_URL:
    vars().update(env.email_url("EMAIL_URL"))

# --- Security ------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the page, not the cookie
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # Inline (eager) tasks would log a success line per handler run.
    "loggers": {
        "celery.app.trace": {"level": "WARNING" if CELERY_TASK_ALWAYS_EAGER else "INFO"}
    },
}
