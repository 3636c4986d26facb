"""JSONL exports written before destructive actions, so nothing is lost beyond recovery."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from jobs.models import Job
from jobs.representations import dlq_entry_to_dict, job_to_dict
from jobs.services.audit import Actor, audit_record
from jobs.services.errors import NotFound

# What an export's file name looks like: a label and a time, nothing a path could hide in.
EXPORT_NAME = re.compile(r"^[a-z][a-z-]*-\d{8}T\d{12}Z\.jsonl$")


def export_path(label: str) -> Path:
    directory = Path(settings.JOBS_EXPORT_DIR)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    stamp = timezone.now().strftime("%Y%m%dT%H%M%S%fZ")
    return directory / f"{label}-{stamp}.jsonl"


def export_download(*, actor: Actor, name: str) -> Path:
    """The export called ``name`` in JOBS_EXPORT_DIR, its download recorded; NotFound for anything else.

    Only an export's own name is looked up, so no path can reach another file.
    """
    path = Path(settings.JOBS_EXPORT_DIR) / name
    if not EXPORT_NAME.match(name) or not path.is_file():
        raise NotFound("no such export")
    with transaction.atomic():
        audit_record(actor, action="export.download", object_type="export", object_ids=[name])
    return path


def write_jsonl(path: Path, rows) -> int:
    """Write ``rows`` as a new file readable by its owner only: exports hold every job's params."""
    count = 0
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, cls=DjangoJSONEncoder, separators=(",", ":")) + "\n")
            count += 1
        out.flush()
    return count


def job_export_rows(jobs):
    """One line per job in the runbook's field names; a DLQ entry rides along as 'dlq'."""
    for job in jobs.iterator(chunk_size=1000):
        row = job_to_dict(job)
        entry = getattr(job, "dlq_entry", None) if _has_dlq_cached(job) else None
        if entry is not None:
            row["dlq"] = {k: v for k, v in dlq_entry_to_dict(entry).items() if k != "job"}
        yield row


def _has_dlq_cached(job: Job) -> bool:
    try:
        job.dlq_entry  # noqa: B018 - only reads the select_related cache
    except Job.dlq_entry.RelatedObjectDoesNotExist:
        return False
    return True


def export_jobs(jobs, *, label: str) -> tuple[Path, list]:
    """Write ``jobs`` to a new export; returns its path and the ids of exactly the jobs in it.

    A destructive action removes these ids and no others: a second read of the
    table would also take rows committed after the export was written.
    """
    path = export_path(label)
    ids = []

    def rows():
        for row in job_export_rows(jobs):
            ids.append(row["id"])
            yield row

    write_jsonl(path, rows())
    return path, ids
