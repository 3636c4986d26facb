"""Jobs Console settings.

Everything comes from environment variables with safe defaults, so the project
runs locally with nothing set (SQLite and a file-system broker under var/) and
in production from the variables listed in the README.
"""

from __future__ import annotations

import math
import os
import secrets
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from jobs import queues as jobs_queues

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("JOBS_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), got {value!r}")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from None


def env_seconds(name: str, default: float, *, unit: str = "seconds") -> float:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    problem = ImproperlyConfigured(f"{name} must be a positive number of {unit} (e.g. 5 or 0.5), got {value!r}")
    try:
        seconds = float(value)
    except ValueError:
        raise problem from None
    if not (math.isfinite(seconds) and seconds > 0):  # also refuses nan and inf
        raise problem
    return seconds


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def local_secret_key(path: Path) -> str:
    """A random key made once for this checkout, readable by its owner only (for DEBUG runs)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as file:
            file.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    # No built-in key: with DEBUG off a missing key is a mistake, not a default.
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set: set it to a long random string in production, or DEBUG=1 for a local "
            "run (`make run` and `make test` give this checkout a key of its own, in var/secret-key)"
        )
    SECRET_KEY = local_secret_key(VAR_DIR / "secret-key")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "axes",
    "jobs",
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
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks, so it sees the outcome of authentication.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    # ModelBackend, with a user's permissions and their groups' read in one query (jobs/auth.py).
    "jobs.auth.PermissionsInOneQueryBackend",
]

ROOT_URLCONF = "jobsconsole.urls"
WSGI_APPLICATION = "jobsconsole.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # The project's own error pages; the console's templates come with the app.
        "DIRS": [BASE_DIR / "jobsconsole" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Database: PostgreSQL in production and tests; SQLite as the embedded default.
DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    # Persistent connections, checked before each request reuses one: after a PostgreSQL
    # restart the first request of each process reconnects instead of answering 500.
    DATABASES: dict[str, Any] = {
        "default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)
    }
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "db.sqlite3",
            "OPTIONS": {
                # Web, worker and beat share the file: write transactions take the
                # lock up front (no upgrade deadlocks) and WAL lets readers go on.
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "jobs:login"
LOGIN_REDIRECT_URL = "jobs:dashboard"
LOGOUT_REDIRECT_URL = "jobs:login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if env_bool("STATIC_MANIFEST", not DEBUG)
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = env_bool("WHITENOISE_USE_FINDERS", True)

# Security, per Django's deployment checklist. HTTPS-only flags follow
# SECURE_SSL; they are off by default so the console works on plain loopback.
SECURE_SSL = env_bool("SECURE_SSL", False)
SESSION_COOKIE_SECURE = SECURE_SSL
CSRF_COOKIE_SECURE = SECURE_SSL
SECURE_SSL_REDIRECT = SECURE_SSL
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if SECURE_SSL else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_SSL
SECURE_HSTS_PRELOAD = SECURE_SSL
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if SECURE_SSL else None
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 12 * 3600)
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
    "base-uri": [CSP.SELF],
    "object-src": [CSP.NONE],
}

# django-axes: lock out an IP + username pair after repeated failed logins.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = env_int("AXES_COOLOFF_MINUTES", 15) / 60
AXES_LOCKOUT_PARAMETERS = [["ip_address", "username"]]
AXES_RESET_ON_SUCCESS = True
AXES_USERNAME_CALLABLE = "jobsconsole.axes.login_username"
AXES_ENABLED = env_bool("AXES_ENABLED", True)
# A page that says what happened and when to try again, instead of a bare 429 text.
AXES_LOCKOUT_TEMPLATE = "jobs/lockout.html"

# Celery. Without REDIS_URL the embedded file-system transport under var/ lets
# web, worker and beat talk on one machine with nothing else installed.
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, Any] = {
        # Above the longest run, so Redis never re-delivers a job still running.
        "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600),
        # A dead broker must not hang a web request: fail fast, the reconciler
        # publishes the message later.
        "socket_connect_timeout": 2,
        "socket_timeout": 5,
        "max_retries": 0,
    }
else:
    BROKER_DIR = VAR_DIR / "broker"
    for sub in ("queue", "processed", "control"):
        (BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    # A hostname in the URL, or kombu warns "No hostname was supplied" at every start.
    CELERY_BROKER_URL = "filesystem://localhost//"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "store_processed": False,
        # Exchange tables: kombu's default is ./control, in whatever directory the process started.
        "control_folder": str(BROKER_DIR / "control"),
    }
# Control work (background operations, the reconciler, the approval poll, a webhook's
# label) has a queue of its own, so it never waits behind job wake-ups; every worker
# started without -Q consumes both (jobs/queues.py, docs/architecture.md).
CELERY_TASK_QUEUES = jobs_queues.task_queues()
CELERY_TASK_ROUTES = jobs_queues.TASK_ROUTES
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# The jobs engine.
JOBS_CONFIG = os.environ.get("JOBS_CONFIG", "")
JOBS_ENTRYPOINT_MODULES = env_list("JOBS_ENTRYPOINT_MODULES", ["jobs.entrypoints.demo", "jobs.entrypoints.demo_tasks"])
# How often the reconciler runs: recovers dead workers' jobs, times out long
# runs, expires approvals and re-publishes jobs whose message was lost.
JOBS_RECONCILE_SECONDS = env_seconds("JOBS_RECONCILE_SECONDS", 5.0)
# A worker refreshes its heartbeat and its job's lease this often; a lease
# lasts JOBS_LEASE_SECONDS, after which the job counts as abandoned.
JOBS_HEARTBEAT_SECONDS = env_seconds("JOBS_HEARTBEAT_SECONDS", 5.0)
JOBS_LEASE_SECONDS = env_seconds("JOBS_LEASE_SECONDS", 30.0)
# A queued job whose wake-up message was published longer ago than this and
# that still waits is published again (a lost message).
JOBS_REPUBLISH_SECONDS = env_seconds("JOBS_REPUBLISH_SECONDS", 30.0)
# Where destructive actions write the JSONL export of what they remove.
JOBS_EXPORT_DIR = Path(os.environ.get("JOBS_EXPORT_DIR", VAR_DIR / "exports"))

# Django's Tasks framework: every @task's .enqueue() becomes a job of the engine.
TASKS = {"default": {"BACKEND": "jobs.tasks_backend.JobsBackend"}}

# GET /metrics answers a bearer token, or these addresses or networks without
# one (e.g. "127.0.0.1,10.0.0.0/8" for a Prometheus on the host). Empty: token only.
JOBS_METRICS_ALLOWED_IPS = env_list("METRICS_ALLOWED_IPS", [])

# GitHub approval watcher.
JOBS_GITHUB_TOKEN = os.environ.get("GITHUB_TOKEN", "")
JOBS_GITHUB_API_URL = os.environ.get("GITHUB_API_URL", "https://api.github.com").rstrip("/")
JOBS_GITHUB_REPO = os.environ.get("GITHUB_REPO", "")
JOBS_GITHUB_WEBHOOK_SECRET = os.environ.get("GITHUB_WEBHOOK_SECRET", "")
JOBS_GITHUB_TIMEOUT_SECONDS = env_seconds("GITHUB_TIMEOUT_SECONDS", 10.0)

# The audit trail's signed anchors, kept outside the database (docs/architecture.md).
JOBS_AUDIT_ANCHOR_KEY = os.environ.get("AUDIT_ANCHOR_KEY", "")
JOBS_AUDIT_ANCHOR_FILE = os.environ.get("AUDIT_ANCHOR_FILE", "")
JOBS_AUDIT_ANCHOR_SECONDS = env_seconds("AUDIT_ANCHOR_SECONDS", 300.0)

# Where the app keeps its files; the broker's Redis, for the wake-up gate.
JOBS_VAR_DIR = VAR_DIR

# Four eyes for the destructive actions: "on" for all four (clear the DLQ, clear all jobs,
# force-fail running, disable the job system), or a comma-separated list of their action
# names (checked against the catalog when Django starts: jobs/apps.py).
JOBS_FOUR_EYES = env_list("JOBS_FOUR_EYES", [])
JOBS_FOUR_EYES_MINUTES = env_seconds("JOBS_FOUR_EYES_MINUTES", 15.0, unit="minutes")
JOBS_REDIS_URL = REDIS_URL

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # A refused request (403) is logged on one line, not with its traceback (jobs/logs.py).
    "filters": {"refusals": {"()": "jobs.logs.RefusalsOnOneLine"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"axes": {"level": "WARNING"}, "django.request": {"filters": ["refusals"]}},
}
