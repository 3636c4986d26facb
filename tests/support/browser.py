"""Headless Chromium (Debian's /usr/bin/chromium) driven by Playwright, for browser tests.

Use the ``console_page`` fixture: ``page = console_page("approver")`` creates the
user (role == name unless ``username=`` is given), signs in through the real
login form on pytest-django's ``live_server``, and returns a Playwright Page.
Every page records console errors, uncaught exceptions and CSP violations; the
fixture fails the test if any happened (``page.problems`` lists them meanwhile).

tests/browser/conftest.py provides them to every test under tests/browser/;
elsewhere import them: ``from tests.support.browser import browser, console_page``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from tests.conftest import PASSWORD

CHROMIUM = os.environ.get("JOBS_CHROMIUM", "/usr/bin/chromium")  # as scripts/need-chromium
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Where screenshot() writes. docs/screenshots/ is refreshed on purpose with
# JOBS_SCREENSHOT_DIR=docs/screenshots; ordinary test runs leave the tree clean.
SCREENSHOTS = Path(os.environ.get("JOBS_SCREENSHOT_DIR") or Path(tempfile.gettempdir()) / "jobs-console-screenshots")
VIEWPORT = {"width": 1280, "height": 860}
TIMEOUT_MS = 15_000

# Runs in every page before its scripts: CSP violations become entries the test can read.
WATCH_CSP = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.violatedDirective}: ${e.blockedURI || "inline"} (${e.sourceFile}:${e.lineNumber})`);
});
"""


@pytest.fixture
def browser() -> Iterator[Browser]:
    # Playwright's sync API runs an event loop in the test thread while it is open;
    # the ORM calls tests make between browser steps are still synchronous, so Django
    # may allow them. One browser per test: the loop, and that permission, end with
    # the test instead of leaking into every test after the first browser test.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def sign_in(page: Page, username: str, password: str = PASSWORD) -> None:
    page.goto("/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login/" not in url, timeout=TIMEOUT_MS)


def open_page(browser: Browser, base_url: str, *, color_scheme: str = "light") -> Page:
    """A fresh browser context and page that records every problem in ``page.problems``."""
    context = browser.new_context(base_url=base_url, viewport=VIEWPORT, color_scheme=color_scheme)
    context.set_default_timeout(TIMEOUT_MS)
    context.add_init_script(WATCH_CSP)
    page = context.new_page()
    problems: list[str] = []
    page.problems = problems  # type: ignore[attr-defined]
    page.on("console", lambda msg: problems.append(f"console.{msg.type}: {msg.text}") if msg.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(f"uncaught: {exc}"))
    return page


def page_problems(page: Page) -> list[str]:
    """Console errors and uncaught exceptions so far, plus the CSP violations of the current document."""
    problems = list(page.problems)  # type: ignore[attr-defined]
    if not page.is_closed():
        # While the page navigates it cannot answer; its console errors are recorded anyway.
        with contextlib.suppress(PlaywrightError):
            problems += [f"CSP: {v}" for v in page.evaluate("window.__cspViolations || []")]
    return problems


def screenshot(page: Page, name: str, *, full_page: bool = False) -> Path:
    """Save <name>.png in SCREENSHOTS (viewport-sized so the files stay small)."""
    folder = SCREENSHOTS if SCREENSHOTS.is_absolute() else Path(__file__).resolve().parents[2] / SCREENSHOTS
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page, animations="disabled")
    return path


@pytest.fixture
def console_page(browser, live_server, make_user) -> Iterator[Callable[..., Page]]:
    """``console_page(role, username=None, color_scheme="light")``: a signed-in Page."""
    pages: list[Page] = []

    def open_as(role: str, username: str | None = None, *, color_scheme: str = "light") -> Page:
        user = make_user(role, username)
        page = open_page(browser, live_server.url, color_scheme=color_scheme)
        pages.append(page)
        sign_in(page, user.get_username())
        return page

    yield open_as
    problems = []
    for page in pages:
        problems += page_problems(page)
        page.context.close()
    assert not problems, "the browser reported problems:\n" + "\n".join(problems)
