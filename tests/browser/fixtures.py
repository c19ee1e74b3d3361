"""Playwright driving Debian's Chromium (never a browser downloaded by a test tool).

``make test`` installs Chromium with apt (scripts/test-deps.sh). A missing browser fails
the run rather than skipping it: pages untested in a browser are not tested.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.conftest import LiveServer

CHROMIUM = Path(os.environ.get("KENTCARD_CHROMIUM", "/usr/bin/chromium"))
# Flags for a closed network: no background calls home, no first-run work.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: run `make test` (scripts/test-deps.sh installs "
            "Debian's chromium) or set KENTCARD_CHROMIUM",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, live_server: LiveServer) -> Iterator[Page]:
    # bypass_csp lets the test inject axe-core; the app's own pages never need it.
    context = browser.new_context(
        base_url=live_server.url, bypass_csp=True, viewport={"width": 1024, "height": 768}
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()
