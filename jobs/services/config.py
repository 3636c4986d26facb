"""Reading and changing the jobs.json configuration."""

from __future__ import annotations

import json
import os
import time
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from jobs import jobsconfig
from jobs.jobsconfig import ConfigError, JobsSettings
from jobs.models import RuntimeConfig
from jobs.services.audit import Actor, audit_record
from jobs.services.errors import InvalidInput


@lru_cache(maxsize=4)
def _file_config(path: str, mtime: float) -> dict[str, Any]:
    return jobsconfig.load_file(path)


def file_config() -> dict[str, Any]:
    """The JOBS_CONFIG file's settings (cached until the file changes)."""
    path = settings.JOBS_CONFIG
    if not path:
        return {}
    try:
        mtime = os.stat(path).st_mtime
    except OSError as exc:
        raise ConfigError(f"JOBS_CONFIG {path}: cannot read ({exc.strerror})") from None
    return _file_config(path, mtime)


def _overrides() -> dict[str, Any]:
    row = RuntimeConfig.objects.filter(pk=1).only("overrides").first()
    return row.overrides if row else {}


def config_get() -> JobsSettings:
    """The effective configuration: defaults, then the file, then console overrides."""
    merged = jobsconfig.deep_merge(file_config(), _overrides())
    return _validated(json.dumps(merged, sort_keys=True))


@lru_cache(maxsize=32)
def _validated(canonical: str) -> JobsSettings:
    """Validation is the costly part of a read: done once per distinct configuration."""
    return jobsconfig.validate(json.loads(canonical))


# Workers read the configuration for every job they admit, and every submission
# checks backpressure against it; at most once a second per process is enough, and
# a change made in this process applies at once.
RECENT_CONFIG_SECONDS = 1.0
_recent_config: tuple[float, JobsSettings] | None = None


def config_recent() -> JobsSettings:
    """The configuration at most RECENT_CONFIG_SECONDS old: for the hot paths (admission, submit)."""
    global _recent_config
    cached = _recent_config
    if cached is not None and time.monotonic() - cached[0] < RECENT_CONFIG_SECONDS:
        return cached[1]
    cfg = config_get()
    _recent_config = (time.monotonic(), cfg)
    return cfg


def config_forget_recent() -> None:
    """Make the next config_recent() read the database (a change here; between tests)."""
    global _recent_config
    _recent_config = None


def config_update(
    *, actor: Actor, changes: dict[str, Any], reason: str = "", action: str = "config.update"
) -> JobsSettings:
    """Apply a partial jobs.json change; refuses the whole change if any field is invalid."""
    if not isinstance(changes, dict) or not changes:
        raise InvalidInput("config: send at least one setting to change")
    with transaction.atomic():
        row, _ = RuntimeConfig.objects.select_for_update().get_or_create(pk=1)
        before = config_get()
        overrides = jobsconfig.deep_merge(row.overrides, changes)
        try:
            after = jobsconfig.validate(jobsconfig.deep_merge(file_config(), overrides))
        except ConfigError as exc:
            raise InvalidInput(str(exc)) from None
        row.overrides = overrides
        row.updated_at = timezone.now()
        row.updated_by = actor.name
        row.save(update_fields=["overrides", "updated_at", "updated_by"])
        config_forget_recent()  # this transaction reads the new settings at once,
        transaction.on_commit(config_forget_recent)  # and so does everything after it
        audit_record(
            actor,
            action=action,
            object_type="config",
            object_ids=["jobs.json"],
            reason=reason,
            before=_changed(before.as_dict(), changes),
            after=_changed(after.as_dict(), changes),
        )
    return after


def _changed(full: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """The part of ``full`` that ``changes`` touches, for a readable audit entry."""
    out: dict[str, Any] = {}
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(full.get(key), dict):
            out[key] = _changed(full[key], value)
        else:
            out[key] = full.get(key)
    return out
