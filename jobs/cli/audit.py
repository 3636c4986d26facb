"""The audit trail: list, verify the hash chains, export as CSV."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import CommandError

from jobs import selectors
from jobs.cli.base import Session, add_action, add_read, checked_limit, follow_operation, limit_option
from jobs.representations import audit_entry_to_dict
from jobs.services.audit import audit_verify_since_checkpoint
from jobs.services.audit_export import audit_csv_rows


def register(sub) -> None:
    p = sub.add_parser("audit", help="the audit trail")
    ausub = p.add_subparsers(dest="action", required=True, parser_class=type(p))
    au = add_read(ausub, "list", audit_list)
    au.add_argument("--actor")
    au.add_argument("--action", dest="audit_action")
    limit_option(au, 50)
    add_read(ausub, "verify", verify, "check what the chains gained since the last verification")
    add_action(ausub, "audit.verify").set_defaults(run=verify_all)
    au = add_read(ausub, "export", export, "CSV of the whole trail")
    au.add_argument("path", help="file to write, or - for standard output")


def audit_list(session: Session, options: dict) -> None:
    entries = selectors.audit_entries(actor=options["actor"], action=options["audit_action"])
    session.show([audit_entry_to_dict(entry) for entry in entries[: checked_limit(options["limit"])]])


def verify(session: Session, options: dict) -> None:
    report = audit_verify_since_checkpoint()
    if not report.ok:
        raise CommandError(f"audit chain broken at entry {report.broken_at}: {report.problem}")
    session.say(f"audit chain intact: {report.checked} entries verified since the last verification")


def verify_all(session: Session, options: dict) -> None:
    """The console's full verification: the same background operation, followed here until it ends."""
    outcome = session.perform("audit.verify", {}, None)
    session.say(outcome.message)
    result = follow_operation(outcome.operation_id, "audit verification").result
    if not result["ok"]:
        raise CommandError(f"audit chain broken at entry {result['brokenAt']}: {result['problem']}")
    session.say(f"audit chain intact: all {result['checked']} entries verified")


def export(session: Session, options: dict) -> None:
    rows = audit_csv_rows(selectors.audit_entries().order_by("id"))
    if options["path"] == "-":
        for line in rows:
            session.command.stdout.write(line, ending="")
        return
    with Path(options["path"]).open("w", encoding="utf-8", newline="") as out:
        out.writelines(rows)
    session.say(f"audit trail written to {options['path']}")
