"""Servers a test starts for itself: a redis-server it can stop, gunicorn serving the console."""

from __future__ import annotations

import json
import socket
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.support.processes import ManagedProcess, process_env, wait_for


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class OwnRedis:
    """A throwaway redis-server that the test can stop and start again on the same port."""

    def __init__(self, tmp_path: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.tmp_path = tmp_path
        self.process: ManagedProcess | None = None

    def start(self) -> None:
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.process = ManagedProcess(argv, process_env(), self.tmp_path / f"redis-{time.monotonic_ns()}.log")
        wait_for(self.answers, timeout=10, message="redis-server up")

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None


class Web:
    """gunicorn serving the console against the test database and a given broker."""

    def __init__(self, tmp_path: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        gunicorn = str(Path(sys.executable).with_name("gunicorn"))
        argv = [gunicorn, "jobsconsole.wsgi", "--bind", f"127.0.0.1:{self.port}", "--workers", "1"]
        self.process = ManagedProcess([*argv, "--no-control-socket"], env, tmp_path / "gunicorn.log")
        wait_for(self.up, timeout=30, message="gunicorn answering")

    def up(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def submit(self, token: str, params: dict) -> tuple[int, dict, float]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/api/jobs",
            data=json.dumps({"entrypoint": "demo.noop", "params": params}).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            method="POST",
        )
        started = time.monotonic()
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read()), time.monotonic() - started

    def get(self, token: str, path: str) -> int:
        """The status of a GET (a 5xx is an answer here, not an exception)."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", headers={"Authorization": f"Bearer {token}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code
