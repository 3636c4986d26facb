"""The job store as JSONL: export every job, import a file."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import CommandError
from django.core.serializers.json import DjangoJSONEncoder

from jobs import selectors
from jobs.cli.base import Session, add_read
from jobs.services.export import job_export_rows, write_jsonl


def register(sub) -> None:
    p = add_read(sub, "export-jsonl", export_jsonl, "write every job as JSONL")
    p.add_argument("path", help="file to write, or - for standard output")

    p = add_read(sub, "import-jsonl", import_jsonl, "import jobs from a JSONL file (the jobs.import action)")
    p.add_argument("path", nargs="?")
    p.add_argument("--skip-bad-lines", action="store_true")


def export_jsonl(session: Session, options: dict) -> None:
    rows = job_export_rows(selectors.jobs_for_export())
    path = options["path"]
    if path == "-":
        for row in rows:
            session.say(json.dumps(row, cls=DjangoJSONEncoder))
        return
    count = write_jsonl(Path(path), rows)
    session.say(f"exported {count} jobs to {path}")


def import_jsonl(session: Session, options: dict) -> None:
    def read_file() -> dict:
        path = options["path"]
        if not path:
            raise CommandError("path: required (a JSONL file, one job per line)")
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"{path}: cannot read ({exc})") from None
        return {"text": text, "skipBadLines": options["skip_bad_lines"]}

    session.say(session.perform("jobs.import", read_file).message)
