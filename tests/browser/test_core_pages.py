"""The public pages in a real browser: accessible, usable by keyboard, work without JS."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.axe import assert_accessible

PUBLIC_PAGES = {
    "/": 200,
    "/accessibility": 200,
    "/privacy": 200,
    "/contact": 200,
    "/sign-in": 200,
    "/no-such-page": 404,
}


@pytest.mark.browser
@pytest.mark.parametrize(("path", "status"), PUBLIC_PAGES.items())
def test_public_page_has_no_accessibility_violations(page: Page, path: str, status: int) -> None:
    response = page.goto(path)
    assert response is not None and response.status == status
    expect(page.locator("h1")).to_have_count(1)
    assert_accessible(page, label=path)


@pytest.mark.browser
def test_skip_link_is_first_and_moves_focus_to_main_content(page: Page) -> None:
    page.goto("/")
    page.keyboard.press("Tab")
    focused = page.evaluate("() => document.activeElement.textContent.trim()")
    assert focused == "Skip to main content"
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "main-content"
