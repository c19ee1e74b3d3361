"""Every resident-facing page in Chromium, in its normal and error states: axe-core at
WCAG 2.2 AA with zero violations, and no sideways scrolling at 320 px.

The pages and states are listed once, in ``tests/browser/pages.py``.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from werkzeug.exceptions import NotFound

from tests.browser.axe import assert_accessible
from tests.browser.pages import NOT_FOUND, VISITS, Visit
from tests.browser.site import Site


def endpoint_of(app: Flask, url: str) -> str:
    parts = urlsplit(url)
    try:
        endpoint, _ = app.url_map.bind("localhost").match(parts.path, "GET")
    except NotFound:
        return NOT_FOUND
    return str(endpoint)


@pytest.mark.browser
@pytest.mark.parametrize("v", VISITS, ids=[v.id for v in VISITS])
def test_page_is_accessible(page: Page, live_app: Flask, v: Visit) -> None:
    response = v.run(page, Site(live_app, page))

    assert endpoint_of(live_app, page.url) == v.endpoint, f"{v.id} ended on {page.url}"
    assert response.status == v.status, f"{v.id}: status {response.status}"
    expect(page.locator("h1")).to_have_count(1)
    summary = page.locator(".kc-error-summary")
    if v.errors:
        expect(page).to_have_title(_starts_with_error())
        expect(summary).to_be_visible()
        expect(summary).to_be_focused()  # as the GOV.UK pattern asks, without JavaScript
        # Every link in the summary leads to a field on the page.
        for href in summary.locator("a").evaluate_all("as => as.map(a => a.hash)"):
            expect(page.locator(href)).to_have_count(1)
        if v.errors == "fields":
            expect(summary.locator("a").first).to_be_visible()
            expect(page.locator(".kc-form-group--error .kc-error-message").first).to_be_visible()
    else:
        expect(summary).to_have_count(0)
        assert not page.title().startswith("Error:"), f"{v.id} has an error title"

    # WCAG 1.3.5: password managers can tell signing in from choosing a password.
    for autocomplete in page.locator("input[type=password]").evaluate_all(
        "els => els.map(e => e.getAttribute('autocomplete'))"
    ):
        assert autocomplete in ("current-password", "new-password"), f"{v.id}: {autocomplete}"

    assert_accessible(page, label=v.id)


@pytest.mark.browser
def test_links_styled_as_buttons_keep_their_colours_when_hovered(page: Page) -> None:
    page.goto("/")
    for name, colour in [
        ("Create an account", "rgb(255, 255, 255)"),
        ("Sign in", "rgb(11, 12, 12)"),
    ]:
        button = page.locator("#main-content").get_by_role("link", name=name, exact=True)
        button.hover()
        expect(button).to_have_css("color", colour)
        expect(button).to_have_css("text-decoration-line", "none")


def _starts_with_error() -> re.Pattern[str]:
    return re.compile(r"^Error: ")
