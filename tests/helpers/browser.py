"""A real browser for tests: Debian's chromium, headless, driven by Playwright (tests only).

No browser is ever downloaded: Playwright (pinned in the test extras, installed
with PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1) drives /usr/bin/chromium, which
``scripts/test`` installs from Debian. The flags keep chromium off every
network but the one the test gives it (no update checks, no sync, no QUIC,
no background requests), and each browser gets a fresh profile directory.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.helpers.require import unavailable

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


@contextmanager
def chromium(profile: Path, *, width: int = 1280, height: int = 800) -> Iterator[Any]:
    """A persistent context of headless chromium with a fresh ``profile`` (one per module)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the Python package playwright (pinned in the test extras) is not installed")
    if shutil.which(CHROMIUM) is None:
        unavailable("Debian's chromium is not installed (scripts/test installs it)")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=FLAGS,
            viewport={"width": width, "height": height},
        )
        context.set_default_timeout(20_000)
        try:
            yield context
        finally:
            context.close()
