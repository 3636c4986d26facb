"""`make test` on a machine without Chromium: one line saying what to install, at once.

The machine running the suite has Chromium; JOBS_CHROMIUM points the check at a
binary that does not exist, and JOBS_INSTALL_BROWSER=0 stands for a user who
cannot install packages (not root, or no apt-get).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

from tests.support.processes import ROOT

NO_CHROMIUM = {"JOBS_CHROMIUM": "/nonexistent/chromium", "JOBS_INSTALL_BROWSER": "0"}


def run(argv: list[str], **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        argv, cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=120, check=False
    )


def test_it_stops_make_test_at_once_with_one_line_naming_the_packages():
    result = run(["make", "--no-print-directory", "test"], **NO_CHROMIUM)

    assert result.returncode != 0
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert "chromium chromium-driver" in lines[0], lines
    # Nothing else ran: no installation, no test session (only make's own closing word).
    assert not any("test session starts" in line or "pip" in line for line in lines), lines
    assert len([line for line in lines if not re.match(r"make(\[\d+\])?:", line)]) == 1, lines


def test_it_stops_a_direct_pytest_run_of_browser_tests_before_the_first_test():
    result = run(
        [sys.executable, "-m", "pytest", "tests/browser/test_console_flows.py", "-q", "-p", "no:cacheprovider"],
        **NO_CHROMIUM,
    )

    assert result.returncode == 4  # pytest's usage error: no test ran
    assert "need Debian's chromium" in result.stderr
    assert "passed" not in result.stdout and "error" not in result.stdout.lower()


def test_it_passes_when_chromium_and_its_driver_are_there():
    assert run(["./scripts/need-chromium"]).returncode == 0
