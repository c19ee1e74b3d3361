"""The public pages in a real browser: accessible, usable by keyboard, work without JS."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

# Each page's axe check is in tests/browser/pages.py with the other pages.


@pytest.mark.browser
def test_skip_link_is_first_and_moves_focus_to_main_content(page: Page) -> None:
    page.goto("/")
    page.keyboard.press("Tab")
    focused = page.evaluate("() => document.activeElement.textContent.trim()")
    assert focused == "Skip to main content"
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "main-content"
