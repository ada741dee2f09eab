"""Settings, read from the environment with defaults that need no server.

With nothing set, Hivelight runs on one machine: SQLite under `.data/`, the
in-memory channel layer, Celery tasks run inline after commit, and DynamoDB
Local on 127.0.0.1:8001. Production sets DATABASE_URL, REDIS_URL, SECRET_KEY,
ALLOWED_HOSTS, DEBUG=0 and the AWS settings; see README.md for every variable.
"""

import os
from pathlib import Path

import environ

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
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=0))

AUTH_USER_MODEL = "tasks_app.User"
LOGIN_URL = "login"
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

if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
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
    # Cheap when nothing is due: one read of each firm's newest seal.
    "seal-audit-trails": {
        "task": "events_app.tasks.seal_audit_trails",
        "schedule": env.float("AUDIT_SEAL_SECONDS", default=900.0),
    },
}

# Events stored and published per relay batch (one DynamoDB transaction holds
# up to 100 items, so a batch is written as several transactions).
OUTBOX_BATCH_SIZE = env.int("OUTBOX_BATCH_SIZE", default=200)

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
