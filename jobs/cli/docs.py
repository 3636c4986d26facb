"""`jobs docs`: the catalog's tables in docs/console.md, docs/api.md and the README."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import CommandError

from jobs.actions.docs import stale_documents, write_documents
from jobs.cli.base import Session, add_read


def register(sub) -> None:
    p = add_read(sub, "docs", docs, "check (or --write) the action tables generated from the catalog")
    p.add_argument("--write", action="store_true", help="rewrite the tables that differ")


def docs(session: Session, options: dict) -> None:
    root = Path(settings.BASE_DIR)
    if options["write"]:
        written = write_documents(root)
        session.say(f"rewrote {', '.join(written)}" if written else "the action tables are up to date")
        return
    if stale := stale_documents(root):
        raise CommandError(f"stale action tables in {', '.join(stale)}: run `python manage.py jobs docs --write`")
    session.say("the action tables are up to date")
