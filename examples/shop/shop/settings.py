"""A small Django project that adds Jobs Console to itself (see README.md, five steps).

Local by default (SQLite, Celery's file-system broker under var/); set
DATABASE_URL and REDIS_URL for PostgreSQL and Redis, as its tests do.
"""

import os
from pathlib import Path

from jobs import queues

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("SHOP_VAR_DIR", BASE_DIR / "var"))

DEBUG = os.environ.get("DEBUG", "1") == "1"
SECRET_KEY = os.environ.get("SECRET_KEY", "example-shop-only-not-for-production")  # noqa: S105
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "jobs",  # 1. the console's app
    "orders",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",  # 1. the console's pages swap regions with htmx
]

ROOT_URLCONF = "shop.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

if os.environ.get("DATABASE_URL"):
    import dj_database_url

    DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"])}
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": VAR_DIR / "shop.sqlite3"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
STATIC_URL = "static/"

# 2. Every @task's .enqueue() becomes a job of the engine.
TASKS = {"default": {"BACKEND": "jobs.tasks_backend.JobsBackend"}}

# 3. Celery: the engine's wake-ups and periodic work go through the shop's own Celery app.
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
    JOBS_REDIS_URL = REDIS_URL
else:
    for sub in ("queue", "processed", "control"):
        (VAR_DIR / "broker" / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://localhost//"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(VAR_DIR / "broker" / "queue"),
        "data_folder_out": str(VAR_DIR / "broker" / "queue"),
        "processed_folder": str(VAR_DIR / "broker" / "processed"),
        "control_folder": str(VAR_DIR / "broker" / "control"),
    }
# The engine's control work (operations, the reconciler) on a queue of its own, never
# behind job wake-ups; `celery -A shop worker` consumes both.
CELERY_TASK_QUEUES = queues.task_queues()
CELERY_TASK_ROUTES = queues.TASK_ROUTES
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True

# The app's settings are all named JOBS_*; these are the ones the shop changes.
JOBS_VAR_DIR = VAR_DIR
for name in ("JOBS_HEARTBEAT_SECONDS", "JOBS_LEASE_SECONDS", "JOBS_RECONCILE_SECONDS", "JOBS_REPUBLISH_SECONDS"):
    if os.environ.get(name):
        globals()[name] = float(os.environ[name])
JOBS_ENTRYPOINT_MODULES = ["orders.entrypoints"]
