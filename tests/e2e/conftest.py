"""Browser tests: Playwright's sync API drives Debian's Chromium against pytest-django's live_server.

Tests here take `transactional_db` (the live server runs in another thread and must see committed
rows), the `page` fixture (one fresh browser context per test, CSP enforced) and `browser_errors`
(console errors, CSP violations and uncaught exceptions seen by the page; tests assert it is empty).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# Playwright's sync API runs an asyncio event loop in the test thread; Django refuses database
# access from a thread with a running loop unless told that this is safe (it is, here).
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.skip(f"browser tests need Chromium at {CHROMIUM}: install it with `apt-get install -y chromium`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def browser_errors() -> list[str]:
    return []


@pytest.fixture
def page(browser, live_server, browser_errors) -> Iterator[object]:
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 860})
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.on("console", lambda msg: browser_errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: browser_errors.append(str(exc)))
    yield page
    context.close()


@pytest.fixture
def artifacts_dir() -> Path:
    """Screenshots go to test-artifacts/ (gitignored); the README borrows them."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def sign_in():
    """Sign in through the real form with the keyboard: sign_in(page, username)."""
    from tests.accounts.factories import PASSWORD

    def sign_in(page, username: str) -> None:
        page.goto("/accounts/login/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(PASSWORD)
        with page.expect_navigation():
            page.keyboard.press("Enter")
        if "/accounts/login/" in page.url:
            raise AssertionError(f"signing in as {username!r} failed")

    return sign_in
