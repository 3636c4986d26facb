"""`python manage.py runconsole`: the one-command local run behind `make run`.

Migrates, creates a first admin (printing how to log in), loads demo jobs on an
empty database, then runs the web server, a worker and beat together until
Ctrl-C, which stops all three.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from typing import Any, cast

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from jobs.models import Job
from jobs.services.audit import Actor
from jobs.services.submission import job_submit
from jobs.services.users import user_set

DEMO_JOBS: list[dict[str, Any]] = [
    {"entrypoint": "demo.noop", "params": {"demo": "succeeds"}},
    {"entrypoint": "demo.fail", "params": {"message": "demo: upstream API answered 503"}, "max_attempts": 1},
    {"entrypoint": "demo.needs_approval", "params": {"issueId": "1"}, "priority": "high"},
    {"entrypoint": "demo.sleep", "params": {"seconds": 5}, "priority": "low"},
]


class Command(BaseCommand):
    help = "Serve the console with a worker and beat (local, one command)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=os.environ.get("JOBS_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("JOBS_PORT", "8000")))
        parser.add_argument("--no-demo", action="store_true", help="do not load demo jobs")

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
            self.stdout.write(self.style.SUCCESS(f"Log in as admin / {password}  (kept in {password_file})"))

    def _demo_jobs(self) -> None:
        actor = Actor.cli("demo")
        for spec in DEMO_JOBS:
            job, _ = job_submit(actor=actor, **spec)
            self.stdout.write(f"demo job {job.entrypoint} {job.id}")

    def _serve(self, host: str, port: int) -> None:
        python = sys.executable
        bin_dir = os.path.dirname(python)
        processes = [
            subprocess.Popen(
                [
                    os.path.join(bin_dir, "gunicorn"),
                    "jobsconsole.wsgi",
                    "--bind",
                    f"{host}:{port}",
                    "--workers",
                    "2",
                    "--access-logfile",
                    "-",
                    # Else gunicorn opens a control socket in ~/.gunicorn, one per user:
                    # a second local run, or a test's copy, would collide on it.
                    "--no-control-socket",
                ]
            ),
            subprocess.Popen(
                [
                    os.path.join(bin_dir, "celery"),
                    "-A",
                    "jobsconsole",
                    "worker",
                    "--beat",
                    "--loglevel",
                    "INFO",
                    "--concurrency",
                    "3",
                    "--schedule",
                    str(settings.JOBS_VAR_DIR / "celerybeat-schedule"),
                ]
            ),
        ]
        self.stdout.write(self.style.SUCCESS(f"Jobs Console at http://{host}:{port}/ (Ctrl-C stops it)"))
        stopping = False

        def stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping and all(p.poll() is None for p in processes):
                time.sleep(0.5)
        finally:
            for process in processes:
                if process.poll() is None:
                    process.terminate()
            deadline = time.monotonic() + 15
            for process in processes:
                try:
                    process.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    process.kill()
        # Each process was started from an argv list: its program comes first.
        failed = [
            cast("list[str]", p.args)[0]
            for p in processes
            if p.returncode not in (0, -signal.SIGTERM, None) and not stopping
        ]
        if failed:
            raise SystemExit(f"stopped because {', '.join(failed)} exited")
