"""The jobs.json schema: defaults, validation and merging.

The effective configuration is the defaults, then the JOBS_CONFIG file when one
is given, then the overrides admins saved in the console (the RuntimeConfig row).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator


class ConfigError(ValueError):
    """An invalid configuration; the message names each offending field."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class QueueConfig(_Section):
    maxConcurrent: int = Field(3, ge=1, le=1000)
    maxQueueSize: int = Field(100, ge=1, le=10_000_000)
    backpressureThreshold: int = Field(80, ge=1, le=100)


class WorkerConfig(_Section):
    enabled: bool = True
    maxAttempts: int = Field(3, ge=1, le=100)
    retryDelayMs: int = Field(5000, ge=0, le=86_400_000)
    maxJobRuntimeMs: int = Field(300_000, ge=100, le=86_400_000)


class ApprovalConfig(_Section):
    defaultTtlHours: float = Field(24, gt=0, le=24 * 365)
    pollIntervalMs: int = Field(30_000, ge=1000, le=86_400_000)
    expiryWarningHours: float = Field(1, ge=0, le=24 * 365)
    labels: list[str] = Field(default_factory=lambda: ["approved", "plan-approved", "lgtm"], min_length=1)

    @field_validator("defaultTtlHours", "expiryWarningHours", mode="before")
    @classmethod
    def _number(cls, value: Any) -> Any:
        # Strict mode refuses ints for floats; a whole number of hours is fine.
        if isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        return value

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: list[str]) -> list[str]:
        cleaned = [label.strip() for label in value]
        if any(not label for label in cleaned):
            raise ValueError("labels must not be empty strings")
        return cleaned


class DlqConfig(_Section):
    enabled: bool = True
    maxSize: int = Field(1000, ge=1, le=10_000_000)
    retentionDays: float = Field(30, gt=0, le=3650)

    @field_validator("retentionDays", mode="before")
    @classmethod
    def _number(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        return value


class JobsSettings(_Section):
    queue: QueueConfig = Field(default_factory=QueueConfig)
    worker: WorkerConfig = Field(default_factory=WorkerConfig)
    approval: ApprovalConfig = Field(default_factory=ApprovalConfig)
    dlq: DlqConfig = Field(default_factory=DlqConfig)

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump()


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        field = ".".join(str(p) for p in item["loc"]) or "config"
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown setting"
        parts.append(f"{field}: {message}")
    return "; ".join(parts)


def deep_merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def validate(data: Any) -> JobsSettings:
    if not isinstance(data, dict):
        raise ConfigError("config: must be a JSON object")
    try:
        return JobsSettings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None


def load_file(path: str | Path) -> dict[str, Any]:
    """Read and validate a jobs.json file; returns the raw (partial) mapping."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"JOBS_CONFIG {path}: cannot read ({exc.strerror})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"JOBS_CONFIG {path}: invalid JSON at line {exc.lineno}: {exc.msg}") from None
    try:
        validate(data)
    except ConfigError as exc:
        raise ConfigError(f"JOBS_CONFIG {path}: {exc}") from None
    return data
