"""From a fresh virtualenv: ``pip install <this repository>``, then the shop's migrate and
runserver serve the console under /ops/."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from shop_tests.support import wait_for

SHOP = Path(__file__).resolve().parents[1]
REPOSITORY = SHOP.parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


@pytest.mark.slow
def test_pip_install_then_migrate_and_runserver_serve_the_console_under_ops(tmp_path):
    # Only the installed package: neither this repository nor the suite's settings are on the path.
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", str(tmp_path)), "SHOP_VAR_DIR": str(tmp_path)}
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=env)
    python = str(venv / "bin" / "python")
    install = subprocess.run(
        [python, "-m", "pip", "install", "--quiet", str(REPOSITORY)],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr[-3000:]
    listed = subprocess.run(
        [python, "-m", "pip", "show", "-f", "jobs-console"], env=env, capture_output=True, text=True
    )
    assert "jobs/templates/jobs/dashboard.html" in listed.stdout and "jobs/migrations/0001_initial.py" in listed.stdout
    assert "jobs/static/jobs/console.css" in listed.stdout
    migrate = subprocess.run([python, "manage.py", "migrate"], cwd=SHOP, env=env, capture_output=True, text=True)
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    assert "Applying jobs.0001_initial... OK" in migrate.stdout
    where = subprocess.run(
        [python, "-c", "import jobs; print(jobs.__file__)"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert where.stdout.startswith(str(venv)), where.stdout

    port = free_port()
    server = subprocess.Popen(
        [python, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=SHOP, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    try:
        status, body = wait_for(lambda: (r := fetch(f"http://127.0.0.1:{port}/ops/login/"))[0] and r, timeout=30)
        assert status == 200 and "Jobs Console" in body and 'action="/ops/login/"' in body
        css = fetch(f"http://127.0.0.1:{port}/static/jobs/console.css")
        assert css[0] == 200 and "--" in css[1]
        assert fetch(f"http://127.0.0.1:{port}/ops/api/health")[0] == 401  # the API, asking for a token
    finally:
        server.terminate()
        server.wait(timeout=10)
