"""Reading and changing the jobs.json configuration."""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from jobs import jobsconfig
from jobs.jobsconfig import ConfigError, JobsSettings
from jobs.models import JobsConfig
from jobs.services.audit import Actor, audit_record, authorize
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
    row = JobsConfig.objects.filter(pk=1).only("overrides").first()
    return row.overrides if row else {}


def config_get() -> JobsSettings:
    """The effective configuration: defaults, then the file, then console overrides."""
    merged = jobsconfig.deep_merge(file_config(), _overrides())
    return jobsconfig.validate(merged)


def config_update(
    *, actor: Actor, changes: dict[str, Any], reason: str = "", action: str = "config.update"
) -> JobsSettings:
    """Apply a partial jobs.json change; refuses the whole change if any field is invalid."""
    authorize(actor, "jobs.manage_config", action=action, object_type="config")
    if not isinstance(changes, dict) or not changes:
        raise InvalidInput("config: send at least one setting to change")
    with transaction.atomic():
        row, _ = JobsConfig.objects.select_for_update().get_or_create(pk=1)
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
