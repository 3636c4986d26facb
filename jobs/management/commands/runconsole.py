"""`python manage.py runconsole`: the one-command local run behind `make run`.

Migrates, creates a first admin (printing how to log in), loads demo jobs on an
empty database, then runs the web server, a worker and beat together until
Ctrl-C, which stops all three. Once the console answers and the worker is alive
it prints the login line again, since the processes' output has scrolled it away.

Each process runs in a session (and process group) of its own, so Ctrl-C reaches
this command only, which stops them in order: SIGTERM to each (the worker gives
its running jobs back to the queue, their attempts not counted), then, after
STOP_SECONDS, SIGKILL to every process group, so that no process it started
(a worker's pool children included) outlives it.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from contextlib import suppress
from datetime import datetime
from typing import Any, cast

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections
from django.utils import timezone

from jobs.models import Job, WorkerHeartbeat
from jobs.selectors import alive_cutoff
from jobs.services.audit import Actor
from jobs.services.submission import job_submit
from jobs.services.users import user_set

DEMO_JOBS: list[dict[str, Any]] = [
    {"entrypoint": "demo.noop", "params": {"demo": "succeeds"}},
    {"entrypoint": "demo.fail", "params": {"message": "demo: upstream API answered 503"}, "max_attempts": 1},
    {"entrypoint": "demo.needs_approval", "params": {"issueId": "1"}, "priority": "high"},
    {"entrypoint": "demo.sleep", "params": {"seconds": 5}, "priority": "low"},
]

# How long the processes get to stop on Ctrl-C before their process groups are killed.
# The worker gives its running jobs back within about a second; on the embedded broker
# its polling loop can take ten more to exit, and nothing is lost by killing it then.
STOP_SECONDS = 6


class Command(BaseCommand):
    help = "Serve the console with a worker and beat (local, one command)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=os.environ.get("JOBS_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("JOBS_PORT", "8000")))
        parser.add_argument("--no-demo", action="store_true", help="do not load demo jobs")

    login_line = ""

    def handle(self, *args, host: str, port: int, no_demo: bool, **options) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        self._first_admin()
        if not no_demo and not Job.objects.exists():
            self._demo_jobs()
        self._serve(host, port)

    def _first_admin(self) -> None:
        User = get_user_model()
        password_file = settings.JOBS_VAR_DIR / "first-admin-password.txt"
        if not User.objects.filter(username="admin").exists():
            password = secrets.token_urlsafe(12)
            user_set(actor=Actor.cli("runconsole"), username="admin", role="admin", password=password)
            password_file.parent.mkdir(parents=True, exist_ok=True)
            password_file.write_text(password + "\n", encoding="utf-8")
            password_file.chmod(0o600)
        if password_file.exists():
            password = password_file.read_text(encoding="utf-8").strip()
            self.login_line = f"Log in as admin / {password}  (kept in {password_file})"
            self.stdout.write(self.style.SUCCESS(self.login_line))

    def _demo_jobs(self) -> None:
        actor = Actor.cli("demo")
        for spec in DEMO_JOBS:
            job, _ = job_submit(actor=actor, **spec)
            self.stdout.write(f"demo job {job.entrypoint} {job.id}")

    def _serve(self, host: str, port: int) -> None:
        bin_dir = os.path.dirname(sys.executable)
        celery = os.path.join(bin_dir, "celery")
        commands = [
            [
                os.path.join(bin_dir, "gunicorn"),
                "jobsconsole.wsgi",
                "--bind",
                f"{host}:{port}",
                "--workers",
                "2",
                "--graceful-timeout",
                "5",
                "--access-logfile",
                "-",
                # Else gunicorn opens a control socket in ~/.gunicorn, one per user:
                # a second local run, or a test's copy, would collide on it.
                "--no-control-socket",
            ],
            [celery, "-A", "jobsconsole", "worker", "--loglevel", "INFO", "--concurrency", "3"],
            # Beat as a process of its own, not the worker's -B child: stopping it is then
            # this command's job, and a worker killed at the deadline leaves no beat behind.
            [
                celery,
                "-A",
                "jobsconsole",
                "beat",
                "--loglevel",
                "INFO",
                "--schedule",
                str(settings.JOBS_VAR_DIR / "celerybeat-schedule"),
            ],
        ]
        started = timezone.now()
        processes = [subprocess.Popen(argv, start_new_session=True) for argv in commands]
        self.stdout.write(self.style.SUCCESS(f"Jobs Console at http://{host}:{port}/ (Ctrl-C stops it)"))
        stopping = False

        def stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        announced = False
        try:
            while not stopping and all(p.poll() is None for p in processes):
                if not announced and self._ready(host, port, since=started):
                    announced = True
                    self.stdout.write(self.style.SUCCESS(f"Ready at http://{host}:{port}/. {self.login_line}"))
                time.sleep(0.5)
        finally:
            stop_all(processes)
        # Each process was started from an argv list: its program comes first.
        failed = [
            cast("list[str]", p.args)[0]
            for p in processes
            if p.returncode not in (0, -signal.SIGTERM, None) and not stopping
        ]
        if failed:
            raise SystemExit(f"stopped because {', '.join(failed)} exited")

    def _ready(self, host: str, port: int, *, since: datetime) -> bool:
        """The console answers and a worker started by this run is alive."""
        address = "127.0.0.1" if host in ("", "0.0.0.0") else f"[{host}]" if ":" in host else host  # noqa: S104
        try:
            with urllib.request.urlopen(f"http://{address}:{port}/login/", timeout=2) as response:  # noqa: S310
                if response.status != 200:
                    return False
        except (OSError, ValueError):
            return False
        try:
            return WorkerHeartbeat.objects.filter(started_at__gte=since, last_seen__gte=alive_cutoff()).exists()
        finally:
            close_old_connections()


def stop_all(processes: list[subprocess.Popen]) -> None:
    """SIGTERM each process, wait up to STOP_SECONDS, then SIGKILL every process group.

    The groups are killed even when their leader exited: a worker's pool children
    left behind by it are in its group.
    """
    for process in processes:
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + STOP_SECONDS
    for process in processes:
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
    for process in processes:
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
