"""Debian's Chromium, headless, driven by Playwright, for the tests of pages.

Needs Chromium at /usr/bin/chromium (``apt-get install chromium``; .ci/run
installs it) and the ``playwright`` package (in the tox ``e2e`` environment).
Playwright's own browser downloads are never used. Without either, a test that
launches the browser is skipped, or fails under CI=true.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from tests.skipping import unavailable

if TYPE_CHECKING:
    from playwright.sync_api import Browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@contextmanager
def chromium() -> Iterator[Browser]:
    """The browser, closed at the end."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("Playwright is missing: pip install playwright (tox -e e2e installs it).")
    if not CHROMIUM.exists():
        unavailable(f"Chromium is missing at {CHROMIUM}: apt-get install chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()
