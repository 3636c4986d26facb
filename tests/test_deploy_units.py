"""Supervised workers: compose and the systemd units restart web, worker and beat whenever they exit
(a prefork main process can exit for good when a child is killed during pool start-up)."""

from __future__ import annotations

import configparser
import shutil
import subprocess

import pytest
import yaml

from tests.support.processes import ROOT

UNITS = sorted((ROOT / "deploy" / "systemd").glob("*.service"))


def unit(path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read_string(path.read_text())
    return parser


def test_compose_restarts_web_worker_and_beat_unless_stopped():
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    for name in ("web", "worker", "beat", "postgres", "redis"):
        assert services[name]["restart"] == "unless-stopped", name


def test_the_systemd_units_restart_every_process_always_and_never_give_up():
    commands = {}
    for path in UNITS:
        parsed = unit(path)
        assert parsed["Service"]["Restart"] == "always", path.name
        assert parsed["Unit"]["StartLimitIntervalSec"] == "0", path.name
        assert parsed["Service"]["KillSignal"] == "SIGTERM", path.name
        commands[path.name] = parsed["Service"]["ExecStart"]
    assert "celery -A jobsconsole worker" in commands["jobs-console-worker@.service"]
    assert "celery -A jobsconsole beat" in commands["jobs-console-beat.service"]
    assert "gunicorn jobsconsole.wsgi" in commands["jobs-console-web.service"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed here")
def test_systemd_accepts_the_units(tmp_path):
    """systemd's own check, with the install paths pointed at this checkout so the commands exist."""
    checked = []
    for path in UNITS:
        text = path.read_text().replace("/opt/jobs-console", str(ROOT)).replace("/etc/jobs-console/env", "/dev/null")
        name = path.name.replace("@.service", "@1.service")
        (tmp_path / name).write_text(text)
        checked.append(str(tmp_path / name))
    result = subprocess.run(["systemd-analyze", "verify", *checked], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stderr == "", result.stderr
