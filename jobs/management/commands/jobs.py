"""`python manage.py jobs SUBCOMMAND`: every runbook action from the shell.

Each subcommand calls the same service as the console and the API. Output is
JSON for reads and one line for actions; errors are one line and exit non-zero.
By default the shell acts as ``cli:<os user>`` with admin rights (shell access is
admin access); ``--as USER`` acts as a console user, with that user's role.
"""

from __future__ import annotations

import getpass
import json
import sys
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.serializers.json import DjangoJSONEncoder

from jobs import selectors
from jobs.jobsconfig import ConfigError
from jobs.models import AuditEntry, DLQEntry, Job, Status
from jobs.representations import dlq_entry_to_dict, event_to_dict, job_to_dict, worker_to_dict
from jobs.roles import ROLES
from jobs.services import approvals, dlq, jobs, operations, system
from jobs.services.audit import Actor, audit_verify
from jobs.services.config import config_get
from jobs.services.errors import ServiceError
from jobs.services.export import write_jsonl


def _print_json(command: BaseCommand, data) -> None:
    command.stdout.write(json.dumps(data, indent=2, cls=DjangoJSONEncoder))


class Command(BaseCommand):
    help = "Operate the jobs system: one subcommand per runbook action."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--as", dest="as_user", help="act as this console user (with their role)")
        sub = parser.add_subparsers(dest="subcommand", required=True, parser_class=_Parser)

        sub.add_parser("health", help="system_health: status, issues, store/queue/worker stats")

        p = sub.add_parser("list", help="list jobs, newest first")
        p.add_argument("--status", choices=[s.value for s in Status])
        p.add_argument("--priority", choices=["critical", "high", "normal", "low"])
        p.add_argument("--entrypoint")
        p.add_argument("--limit", type=int, default=50)

        p = sub.add_parser("show", help="one job with its events")
        p.add_argument("job_id")

        p = sub.add_parser("submit", help="submit a job")
        p.add_argument("entrypoint")
        p.add_argument("--params", default="{}", help="JSON object")
        p.add_argument("--priority", default="normal")
        p.add_argument("--max-attempts", type=int)
        p.add_argument("--issue-id")
        p.add_argument("--job-key")

        p = sub.add_parser("cancel", help="cancel a job")
        p.add_argument("job_id")
        p.add_argument("--reason", required=True)

        p = sub.add_parser("cancel-low-priority", help="backpressure relief: cancel queued low-priority jobs")
        p.add_argument("--reason", default="Backpressure relief")

        p = sub.add_parser("fail", help="force-fail one job")
        p.add_argument("job_id")
        p.add_argument("--reason", required=True)

        p = sub.add_parser("dlq", help="dead-letter queue")
        dsub = p.add_subparsers(dest="action", required=True, parser_class=_Parser)
        d = dsub.add_parser("list")
        d.add_argument("--reason")
        d.add_argument("--limit", type=int, default=100)
        d = dsub.add_parser("retry")
        d.add_argument("job_id")
        d = dsub.add_parser("retry-all")
        d.add_argument("--reason", default="")
        d = dsub.add_parser("clear")
        d.add_argument("--reason", required=True)
        dsub.add_parser("clean-expired")

        p = sub.add_parser("approvals", help="jobs waiting for approval")
        asub = p.add_subparsers(dest="action", required=True, parser_class=_Parser)
        asub.add_parser("list")
        asub.add_parser("expiring")
        a = asub.add_parser("check", help="force check: expiry, then the approval label")
        a.add_argument("job_id")
        a = asub.add_parser("approve")
        a.add_argument("job_id")
        a.add_argument("--reason", default="")
        a = asub.add_parser("reject")
        a.add_argument("job_id")
        a.add_argument("--reason", required=True)

        p = sub.add_parser("worker", help="worker stats, enable / disable the job system")
        wsub = p.add_subparsers(dest="action", required=True, parser_class=_Parser)
        wsub.add_parser("stats")
        for name in ("enable", "disable"):
            w = wsub.add_parser(name)
            w.add_argument("--reason", required=True)

        p = sub.add_parser("force-fail-running", help="emergency: fail every running job")
        p.add_argument("--reason", required=True)

        p = sub.add_parser("clear-all", help="emergency: delete every job (after a JSONL export)")
        p.add_argument("--reason", required=True)
        p.add_argument("--confirm", required=True, help='must be "clear all jobs"')

        p = sub.add_parser("export-jsonl", help="write every job as JSONL")
        p.add_argument("path", help="file to write, or - for standard output")

        p = sub.add_parser("import-jsonl", help="import jobs from a JSONL file")
        p.add_argument("path")
        p.add_argument("--skip-bad-lines", action="store_true")

        p = sub.add_parser("audit", help="the audit trail")
        ausub = p.add_subparsers(dest="action", required=True, parser_class=_Parser)
        au = ausub.add_parser("list")
        au.add_argument("--actor")
        au.add_argument("--action", dest="audit_action")
        au.add_argument("--limit", type=int, default=50)
        ausub.add_parser("verify", help="check the hash chain; reports the first broken link")
        au = ausub.add_parser("export", help="CSV of the whole trail")
        au.add_argument("path", help="file to write, or - for standard output")

        p = sub.add_parser("user", help="console users")
        usub = p.add_subparsers(dest="action", required=True, parser_class=_Parser)
        u = usub.add_parser("add", help="create or update a user with one role")
        u.add_argument("name")
        u.add_argument("--role", required=True, choices=ROLES)
        u.add_argument("--password")

        p = sub.add_parser("token", help="API tokens")
        tsub = p.add_subparsers(dest="action", required=True, parser_class=_Parser)
        t = tsub.add_parser("create", help="create a token; prints it as the last line")
        t.add_argument("name", help="the user the token acts as")
        t.add_argument("--label", default="")
        t = tsub.add_parser("revoke")
        t.add_argument("token_id", type=int)

        sub.add_parser("reconcile", help="run the reconciler once")

    def create_parser(self, prog_name: str, subcommand: str, **kwargs) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        # Usage errors raise CommandError (one line, see run_from_argv) instead of
        # argparse's usage block: scripts read one line, as for every other error.
        parser.called_from_command_line = False
        return parser

    def run_from_argv(self, argv: list[str]) -> None:
        try:
            super().run_from_argv(argv)
        except CommandError as exc:  # raised while parsing the arguments
            self.stderr.write(f"CommandError: {exc}")
            sys.exit(exc.returncode)

    def handle(self, *args, **options) -> None:
        self.actor = self._actor(options.get("as_user"))
        name = options["subcommand"].replace("-", "_")
        action = options.get("action")
        handler = getattr(self, f"do_{name}_{action.replace('-', '_')}" if action else f"do_{name}")
        try:
            handler(**options)
        except (ServiceError, ConfigError) as exc:
            raise CommandError(getattr(exc, "message", str(exc))) from None
        except PermissionDenied as exc:
            raise CommandError(f"permission denied: {exc}") from None
        except OSError as exc:  # a file to read or write (exports, imports)
            raise CommandError(f"{exc.filename or 'file'}: {exc.strerror or exc}") from None

    def _actor(self, username: str | None) -> Actor:
        if not username:
            return Actor.cli(f"cli:{getpass.getuser()}")
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"--as: no user named {username!r}")
        return Actor.for_user(user, source="cli")

    def ok(self, message: str) -> None:
        self.stdout.write(message)

    # Reads

    def do_health(self, **options) -> None:
        _print_json(self, selectors.system_health(config_get()))

    def do_list(self, *, status, priority, entrypoint, limit, **options) -> None:
        queryset = Job.objects.all()
        if status:
            queryset = queryset.filter(status=status)
        if priority:
            queryset = queryset.filter(priority=_priority(priority))
        if entrypoint:
            queryset = queryset.filter(entrypoint=entrypoint)
        _print_json(self, [job_to_dict(job) for job in queryset[: _limit(limit)]])

    def do_show(self, *, job_id, **options) -> None:
        job = _get_job(job_id)
        from jobs.models import Event

        data = job_to_dict(job)
        data["events"] = [event_to_dict(e) for e in Event.objects.filter(job_id=job.id).order_by("id")]
        _print_json(self, data)

    # Job actions

    def do_submit(self, *, entrypoint, params, priority, max_attempts, issue_id, job_key, **options) -> None:
        try:
            parsed = json.loads(params)
        except json.JSONDecodeError as exc:
            raise CommandError(f"--params: invalid JSON ({exc.msg})") from None
        job, created = jobs.job_submit(
            actor=self.actor,
            entrypoint=entrypoint,
            params=parsed,
            priority=priority,
            max_attempts=max_attempts,
            issue_id=issue_id,
            job_key=job_key,
        )
        self.ok(f"{'submitted' if created else 'already active'} {job.id} ({job.status})")

    def do_cancel(self, *, job_id, reason, **options) -> None:
        job = jobs.job_cancel(actor=self.actor, job_id=_job_id(job_id), reason=reason)
        self.ok(f"canceled {job.id}")

    def do_cancel_low_priority(self, *, reason, **options) -> None:
        count = jobs.jobs_cancel_low_priority(actor=self.actor, reason=reason)
        self.ok(f"canceled {count} low-priority jobs")

    def do_fail(self, *, job_id, reason, **options) -> None:
        job = jobs.job_force_fail(actor=self.actor, job_id=_job_id(job_id), reason=reason)
        self.ok(f"failed {job.id}")

    def do_force_fail_running(self, *, reason, **options) -> None:
        count = jobs.jobs_force_fail_running(actor=self.actor, reason=reason)
        self.ok(f"force-failed {count} running jobs")

    def do_clear_all(self, *, reason, confirm, **options) -> None:
        outcome = jobs.jobs_clear_all(actor=self.actor, reason=reason, confirm=confirm)
        self.ok(f"removed {outcome['removed']} jobs; export written to {outcome['export']}")

    # DLQ

    def do_dlq_list(self, *, reason, limit, **options) -> None:
        entries = DLQEntry.objects.select_related("job")
        if reason:
            entries = entries.filter(reason__icontains=reason)
        _print_json(self, [dlq_entry_to_dict(e) for e in entries[: _limit(limit)]])

    def do_dlq_retry(self, *, job_id, **options) -> None:
        new = dlq.dlq_retry(actor=self.actor, job_id=_job_id(job_id))
        self.ok(f"retried {job_id} as new job {new.id}")

    def do_dlq_retry_all(self, *, reason, **options) -> None:
        # The console's operation, run here rather than by a worker: the same bounds and batches.
        operation = operations.operation_run(
            operations.dlq_retry_all_start(actor=self.actor, reason=reason, background=False).id
        )
        if operation.state != operation.State.DONE:
            raise CommandError(f"retry-all {operation.state}: {operation.error}")
        self.ok(f"retried {operation.result['retried']} DLQ entries")

    def do_dlq_clear(self, *, reason, **options) -> None:
        outcome = dlq.dlq_clear(actor=self.actor, reason=reason)
        self.ok(f"removed {outcome['removed']} DLQ entries; export written to {outcome['export']}")

    def do_dlq_clean_expired(self, **options) -> None:
        self.ok(f"removed {dlq.dlq_clean_expired(actor=self.actor)} expired DLQ entries")

    # Approvals

    def do_approvals_list(self, **options) -> None:
        _print_json(self, [job_to_dict(j) for j in selectors.waiting_approval_jobs()])

    def do_approvals_expiring(self, **options) -> None:
        _print_json(self, [job_to_dict(j) for j in selectors.expiring_jobs(config_get())])

    def do_approvals_check(self, *, job_id, **options) -> None:
        _print_json(self, approvals.approval_force_check(actor=self.actor, job_id=_job_id(job_id)))

    def do_approvals_approve(self, *, job_id, reason, **options) -> None:
        job = approvals.job_approve(actor=self.actor, job_id=_job_id(job_id), reason=reason)
        self.ok(f"{job.id} is now {job.status}")

    def do_approvals_reject(self, *, job_id, reason, **options) -> None:
        job = approvals.job_reject(actor=self.actor, job_id=_job_id(job_id), reason=reason)
        self.ok(f"rejected {job.id}")

    # Worker

    def do_worker_stats(self, **options) -> None:
        stats = selectors.worker_stats(config_get())
        stats["items"] = [worker_to_dict(worker) for worker in selectors.workers_listed(limit=1000)]
        _print_json(self, stats)

    def do_worker_enable(self, *, reason, **options) -> None:
        system.worker_set_enabled(actor=self.actor, enabled=True, reason=reason)
        self.ok("job system enabled")

    def do_worker_disable(self, *, reason, **options) -> None:
        system.worker_set_enabled(actor=self.actor, enabled=False, reason=reason)
        self.ok("job system disabled: no new job starts; running jobs finish")

    # JSONL store

    def do_export_jsonl(self, *, path, **options) -> None:
        from jobs.services.export import job_export_rows

        rows = job_export_rows(Job.objects.order_by("created_at", "id").select_related("dlq_entry"))
        if path == "-":
            for row in rows:
                self.stdout.write(json.dumps(row, cls=DjangoJSONEncoder))
            return
        count = write_jsonl(Path(path), rows)
        self.ok(f"exported {count} jobs to {path}")

    def do_import_jsonl(self, *, path, skip_bad_lines, **options) -> None:
        from jobs.services.jsonl import jsonl_import

        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"{path}: cannot read ({exc})") from None
        report = jsonl_import(actor=self.actor, text=text, skip_bad_lines=skip_bad_lines)
        self.ok(
            f"imported {report['imported']} jobs, {report['duplicates']} already present, "
            f"{len(report['skipped'])} bad lines skipped"
        )

    # Audit

    def do_audit_list(self, *, actor, audit_action, limit, **options) -> None:
        entries = AuditEntry.objects.all()
        if actor:
            entries = entries.filter(actor=actor)
        if audit_action:
            entries = entries.filter(action=audit_action)
        _print_json(
            self,
            list(
                entries.values("id", "created_at", "actor", "source", "action", "outcome", "object_ids", "reason")[
                    : _limit(limit)
                ]
            ),
        )

    def do_audit_verify(self, **options) -> None:
        report = audit_verify()
        if not report.ok:
            raise CommandError(f"audit chain broken at entry {report.broken_at}: {report.problem}")
        self.ok(f"audit chain intact: {report.checked} entries verified")

    def do_audit_export(self, *, path, **options) -> None:
        from jobs.services.audit_export import audit_csv_rows

        rows = audit_csv_rows(AuditEntry.objects.order_by("id"))
        if path == "-":
            for line in rows:
                self.stdout.write(line, ending="")
            return
        with Path(path).open("w", encoding="utf-8", newline="") as out:
            out.writelines(rows)
        self.ok(f"audit trail written to {path}")

    # Users and tokens

    def do_user_add(self, *, name, role, password, **options) -> None:
        from jobs.services.users import user_set

        user, created = user_set(actor=self.actor, username=name, role=role, password=password)
        self.ok(f"{'created' if created else 'updated'} user {user.username} with role {role}")

    def do_token_create(self, *, name, label, **options) -> None:
        from jobs.services.tokens import token_create

        user = get_user_model().objects.filter(username=name).first()
        if user is None:
            raise CommandError(f"no user named {name!r}; create it with: jobs user add {name} --role ROLE")
        token, secret = token_create(actor=self.actor, user=user, name=label)
        self.stderr.write(f"token {token.pk} for {name}; shown once, store it now:")
        self.stdout.write(secret)

    def do_token_revoke(self, *, token_id, **options) -> None:
        from jobs.services.tokens import token_revoke

        token = token_revoke(actor=self.actor, token_id=token_id)
        self.ok(f"revoked token {token.pk}")

    def do_reconcile(self, **options) -> None:
        from jobs.engine.reconciler import reconcile

        _print_json(self, reconcile())


class _Parser(CommandParser):
    """Subparsers that report usage errors as one line, like the rest of the command."""

    def error(self, message):
        raise CommandError(f"{self.prog}: {message}")


def _priority(label: str) -> int:
    from jobs.models import Priority

    return Priority.from_label(label)


def _limit(limit: int) -> int:
    if not 1 <= limit <= 10_000:
        raise CommandError("--limit: must be from 1 to 10000")
    return limit


def _job_id(value: str) -> str:
    import uuid

    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise CommandError(f"job id {value!r} is not a valid id") from None


def _get_job(value: str) -> Job:
    job = Job.objects.filter(id=_job_id(value)).first()
    if job is None:
        raise CommandError(f"job {value} not found")
    return job
