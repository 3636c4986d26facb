"""Browser tests get the Chromium fixtures of tests/support/browser.py (``console_page``)."""

from tests.support.browser import browser, console_page  # noqa: F401
