"""Helpers of the shop's tests."""

from __future__ import annotations

import time


def wait_for(predicate, *, timeout: float = 30, message: str = ""):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(0.1)
    return value
