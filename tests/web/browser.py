"""What every browser test shares: Debian's Chromium through Playwright, sign-in, screenshots.

Playwright's own browser download is not reachable here, so the tests drive the Debian
package at /usr/bin/chromium and are skipped, saying so, when it is missing.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in this thread; the ORM calls the tests make
# around it are still plain synchronous calls.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

from playwright.sync_api import Browser, Page, expect, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

browser_marks = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="Chromium not installed at /usr/bin/chromium (apt-get install chromium)",
    ),
]


@contextlib.contextmanager
def launch_chromium() -> Iterator[Browser]:
    """Debian's Chromium, headless, for the `browser` fixture in tests/web/conftest.py."""
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


def sign_in(page: Page, base: str) -> None:
    page.goto(f"{base}/login/")
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill("correct-horse-9")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base}/")
    expect(page.get_by_role("heading", level=1, name="My week")).to_be_visible()


def shoot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
