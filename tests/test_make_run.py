"""`make run` on a clean clone: installs, serves the console, runs a demo job, stops on Ctrl-C.

Ctrl-C with a long job running stops every process `make run` started (beat and the
worker's pool children included) in under STOP_LIMIT seconds, and gives the job back
to the queue with its attempt not counted.

Slow (the first run creates a virtualenv and installs the requirements): deselect
it with `-m "not slow"`; `make test` runs it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.support.processes import ROOT

pytestmark = pytest.mark.slow

INSTALL_AND_START_TIMEOUT = 900  # a virtualenv and every requirement, on a slow machine
DEMO_JOB_TIMEOUT = 90
STOP_LIMIT = 10  # seconds from Ctrl-C until no process of the run is left


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_clone(target: Path) -> Path:
    """The tracked files only, as a fresh clone has them (no .venv, no var/)."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, listed.decode().split("\0")):
        source = ROOT / name
        if not source.is_file():  # deleted in the work tree but not yet committed
            continue
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_bytes(source.read_bytes())
        destination.chmod(source.stat().st_mode)
    return target


def descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def succeeded_demo_jobs(database: Path) -> int:
    if not database.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as db:
            return db.execute("SELECT count(*) FROM jobs_job WHERE status = 'succeeded'").fetchone()[0]
    except sqlite3.Error:  # not migrated yet, or busy
        return 0


def job_row(database: Path, job_id: str) -> tuple[str, int] | None:
    """(status, attempts) of a job, read from the run's SQLite database."""
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as db:
            return db.execute(
                "SELECT status, attempts FROM jobs_job WHERE id = ?", (job_id.replace("-", ""),)
            ).fetchone()
    except sqlite3.Error:
        return None


def wait(predicate, timeout: float, what: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if process.poll() is not None:
            pytest.fail(f"make run exited ({process.returncode}) before {what}:\n{log.read_text()[-4000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}:\n{log.read_text()[-4000:]}")
        time.sleep(1)


def test_it_installs_serves_runs_a_demo_job_and_stops_everything_on_ctrl_c_with_a_job_running(tmp_path):
    clone = clean_clone(tmp_path / "clone")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE"}}
    env["JOBS_PORT"] = str(port)
    log = tmp_path / "make-run.log"
    with log.open("wb") as out:
        make = subprocess.Popen(
            ["make", "run"], cwd=clone, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    family: set[int] = set()
    try:
        wait(lambda: answers(f"http://127.0.0.1:{port}/login/"), INSTALL_AND_START_TIMEOUT, "the console", make, log)
        wait(
            lambda: succeeded_demo_jobs(clone / "var" / "db.sqlite3") >= 1,
            DEMO_JOB_TIMEOUT,
            "a demo job to succeed",
            make,
            log,
        )
        listed = subprocess.run(
            [str(clone / ".venv" / "bin" / "python"), "manage.py", "jobs", "list", "--status", "succeeded"],
            cwd=clone,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert listed.returncode == 0, listed.stderr
        assert '"entrypoint": "demo.noop"' in listed.stdout

        submitted = subprocess.run(
            [str(clone / ".venv" / "bin" / "python"), "manage.py", "jobs", "submit", "demo.sleep"]
            + ["--params", '{"seconds": 300}', "--json"],
            cwd=clone,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert submitted.returncode == 0, submitted.stderr
        long_job = json.loads(submitted.stdout)["id"]
        database = clone / "var" / "db.sqlite3"
        wait(lambda: (job_row(database, long_job) or ("",))[0] == "running", 60, "the long job to run", make, log)

        family = descendants(make.pid)  # beat, the worker and its pool children, gunicorn's workers
        assert len(family) >= 8, "runconsole, gunicorn and its workers, the worker, its children and beat"

        os.killpg(make.pid, signal.SIGINT)  # Ctrl-C in a terminal signals the whole foreground group
        interrupted = time.monotonic()
        make.wait(timeout=60)
        deadline = interrupted + 30
        while any(alive(pid) for pid in family) and time.monotonic() < deadline:
            time.sleep(0.1)
        stopped_in = time.monotonic() - interrupted
        print(f"make run stopped in {stopped_in:.1f}s")
        assert [pid for pid in family if alive(pid)] == [], "every process the run started exited"
        assert stopped_in < STOP_LIMIT
        assert not answers(f"http://127.0.0.1:{port}/login/")
        assert job_row(database, long_job) == ("queued", 0), "given back, its attempt not counted"
    finally:
        family |= descendants(make.pid)  # also when the test failed before listing them
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGKILL)
            make.wait(timeout=10)
        for pid in family:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)

    output = log.read_text(errors="replace")
    assert "Jobs Console at http://127.0.0.1:" in output
    # The password is printed again once the console answers and the worker is up.
    password = (clone / "var" / "first-admin-password.txt").read_text().strip()
    after_start = output[output.index("Jobs Console at http://127.0.0.1:") :]
    assert f"Log in as admin / {password}" in after_start.split("\n", 1)[1]
    assert "No hostname was supplied" not in output
    assert "database is locked" not in output
    assert "Traceback" not in output, output[-4000:]
    assert not (clone / "control").exists(), "broker files stay under var/"
