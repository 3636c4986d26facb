"""Anchors of the audit trail outside its database: signed chain heads in a file and the log.

The chains and their checkpoints live in the database the application writes, so
whoever holds its credentials could delete the last entries and set a head back,
or re-hash a chain from an edited entry, and every link would still hold. An
anchor is what they cannot change: for each chain, the last entry a verification
found intact and its hash (which commits to every entry before it), signed with
JOBS_AUDIT_ANCHOR_KEY, a key the database does not hold, and appended to
JOBS_AUDIT_ANCHOR_FILE and to the log ("jobs.audit.anchor", for shipping off the
host). Each verification checks the table against the latest anchor: an anchored
entry that is gone or has another hash is tampering. What was appended after the
latest anchor is covered once the next one is written (every
JOBS_AUDIT_ANCHOR_SECONDS, by the reconciler, and after verifications).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

from jobs.models import AuditCheckpoint

logger = logging.getLogger("jobs.audit.anchor")


def _key() -> bytes:
    """JOBS_AUDIT_ANCHOR_KEY, or one derived from SECRET_KEY: neither is in the database."""
    if settings.JOBS_AUDIT_ANCHOR_KEY:
        return settings.JOBS_AUDIT_ANCHOR_KEY.encode()
    return hmac.new(settings.SECRET_KEY.encode(), b"jobs-console audit anchor", hashlib.sha256).digest()


def _signature(body: dict[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(_key(), canonical, hashlib.sha256).hexdigest()


def _path() -> Path:
    return Path(settings.JOBS_AUDIT_ANCHOR_FILE or Path(settings.JOBS_VAR_DIR) / "audit-anchors.jsonl")


def _last_line(path: Path) -> str:
    """The file's last line, reading only its end (an anchor is a few kilobytes)."""
    if not path.exists():
        return ""
    with path.open("rb") as file:
        file.seek(0, os.SEEK_END)
        file.seek(max(file.tell() - (256 << 10), 0))
        return file.read().decode(errors="replace").rstrip("\n").rsplit("\n", 1)[-1].strip()


def anchor_latest() -> tuple[dict[str, Any] | None, str]:
    """The latest anchor, and "" or what is wrong with the file (a bad signature)."""
    text = _last_line(_path())
    if not text:
        return None, ""
    try:
        anchor = json.loads(text)
        body = {key: value for key, value in anchor.items() if key != "signature"}
        signed = hmac.compare_digest(str(anchor.get("signature", "")), _signature(body))
    except (ValueError, AttributeError):
        signed = False
    if not signed:
        return None, f"the audit anchor file was altered: the last line of {_path()} does not carry a valid signature"
    return anchor, ""


def anchored_entries() -> tuple[dict[int, tuple[int, str]], str, str]:
    """({chain: (entry id, hash)} of the latest anchor, when it was written, "" or what is wrong with the file)."""
    anchor, problem = anchor_latest()
    if anchor is None:
        return {}, "", problem
    chains = {int(chain): (head["entryId"], head["hash"]) for chain, head in anchor["chains"].items()}
    return chains, anchor["at"], ""


def anchor_mismatch(anchored: dict[int, tuple[int, str]], at: str, found: dict[int, str]) -> tuple[int | None, str]:
    """(the entry where the table, as ``found`` {id: hash}, disagrees with the anchor, the problem), or (None, "")."""
    for chain, (entry_id, anchored_hash) in sorted(anchored.items()):
        if entry_id not in found:
            return entry_id, f"entry #{entry_id}, anchored on chain {chain} at {at}, was removed"
        if found[entry_id] != anchored_hash:
            return entry_id, f"entry #{entry_id} of chain {chain} is not as anchored at {at} (re-hashed)"
    return None, ""


def anchor_write(*, force: bool = False) -> dict[str, Any] | None:
    """Sign the verified checkpoints as a new anchor, unless the latest is recent; returns it."""
    latest, problem = anchor_latest()
    now = timezone.now()
    if problem:  # writing past a bad line would hide it
        return None
    if latest and not force and _age(latest, now) < timedelta(seconds=settings.JOBS_AUDIT_ANCHOR_SECONDS):
        return None
    chains = {str(cp.chain): {"entryId": cp.entry_id, "hash": cp.hash} for cp in AuditCheckpoint.objects.all()}
    if not chains or (latest and latest["chains"] == chains):
        return None
    body = {"at": now.isoformat(), "chains": chains}
    anchor = {**body, "signature": _signature(body)}
    line = json.dumps(anchor, sort_keys=True, separators=(",", ":"))
    path = _path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "a") as file:
        file.write(line + "\n")
    logger.info("audit anchor %s", line)
    return anchor


def anchor_due(now: datetime | None = None) -> bool:
    """Whether the reconciler should verify and anchor again."""
    latest, problem = anchor_latest()
    if problem:
        return False  # a verification reports it; writing past it would hide it
    return latest is None or _age(latest, now or timezone.now()) >= timedelta(
        seconds=settings.JOBS_AUDIT_ANCHOR_SECONDS
    )


def _age(anchor: dict[str, Any], now: datetime) -> timedelta:
    return now - datetime.fromisoformat(anchor["at"])
