"""The app's settings, every one named JOBS_* and given a default here.

A project that adds ``jobs`` to INSTALLED_APPS sets only the ones it changes;
the app fills in the rest when it is loaded (as django-appconf does), so code
reads ``settings.JOBS_LEASE_SECONDS`` whether the project set it or not.
docs/install.md lists them with what each one does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    # A jobs.json: the engine's configuration is its defaults, then this file, then console changes.
    "JOBS_CONFIG": "",
    # Modules imported at start-up so that their @entrypoint functions register.
    "JOBS_ENTRYPOINT_MODULES": [],
    # The reconciler's period; a worker's heartbeat; how long a lease lasts without one.
    "JOBS_RECONCILE_SECONDS": 5.0,
    "JOBS_HEARTBEAT_SECONDS": 5.0,
    "JOBS_LEASE_SECONDS": 30.0,
    # A due job whose wake-up was published longer ago than this is published again.
    "JOBS_REPUBLISH_SECONDS": 30.0,
    # Where the app keeps files of its own (exports, the first admin's password of runconsole).
    "JOBS_VAR_DIR": Path("var"),
    # Where destructive actions write the JSONL of what they remove (default: JOBS_VAR_DIR/exports).
    "JOBS_EXPORT_DIR": None,
    # Redis of the Celery broker, for the wake-up gate (fewer duplicate wake-ups); empty: no gate.
    "JOBS_REDIS_URL": "",
    # GET /metrics without a token, from these addresses or networks.
    "JOBS_METRICS_ALLOWED_IPS": [],
    # The GitHub approval watcher.
    "JOBS_GITHUB_TOKEN": "",
    "JOBS_GITHUB_API_URL": "https://api.github.com",
    "JOBS_GITHUB_REPO": "",
    "JOBS_GITHUB_WEBHOOK_SECRET": "",
    "JOBS_GITHUB_TIMEOUT_SECONDS": 10.0,
    # The audit trail's anchors outside the database (services/audit_anchor.py): the signing key
    # (default: derived from SECRET_KEY), the file (default: JOBS_VAR_DIR/audit-anchors.jsonl),
    # and how often a new one is written.
    "JOBS_AUDIT_ANCHOR_KEY": "",
    "JOBS_AUDIT_ANCHOR_FILE": "",
    "JOBS_AUDIT_ANCHOR_SECONDS": 300.0,
    # Where the console's pages send a visitor who is not signed in: its own sign-in page,
    # or the project's (a URL or URL name).
    "JOBS_LOGIN_URL": "jobs:login",
    # Four eyes: these destructive actions run only once a second admin confirms them, within
    # JOBS_FOUR_EYES_MINUTES (jobs/services/four_eyes.py). A deployment setting on purpose: an
    # admin cannot switch it off from the console on their own.
    "JOBS_FOUR_EYES": [],
    "JOBS_FOUR_EYES_MINUTES": 15.0,
}


def install_defaults() -> None:
    """Give every JOBS_* setting the project left out its default."""
    for name, default in DEFAULTS.items():
        if not hasattr(settings, name):
            setattr(settings, name, default)
    if getattr(settings, "JOBS_EXPORT_DIR", None) is None:
        settings.JOBS_EXPORT_DIR = Path(settings.JOBS_VAR_DIR) / "exports"
