"""A resident adds services in Chromium: from the account page, facts reused, one question
asked, then the same fact reused by nothing else and never asked again."""

from __future__ import annotations

from datetime import date

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from tests.browser.axe import assert_accessible
from tests.browser.site import Site
from tests.browser.test_without_javascript import no_js_page  # noqa: F401  (fixture)
from tests.services.conftest import sixth_former


@pytest.mark.browser
def test_a_sixth_former_adds_the_library_then_asks_for_a_travel_saver(
    page: Page, live_app: Flask
) -> None:
    site = Site(live_app, page)
    sam = site.resident(date_of_birth=sixth_former())
    site.sign_in(sam)
    page.get_by_role("link", name="Your services: bus passes, library membership and more").click()
    # Offered on registration ("You can now get"): one click starts the journey.
    page.get_by_role("button", name="Add it (Library membership)").click()
    expect(page.locator("#main-content")).to_contain_text("What we already know")
    page.get_by_role("button", name="Continue").click()
    site.submit("Add this service")
    expect(page.locator("h1")).to_have_text("Library membership added")
    assert_accessible(page, label="library added")
    page.get_by_role("link", name="Back to services").click()
    page.get_by_role("link", name="16+ Travel Saver").click()
    page.get_by_role("button", name="Continue").click()
    expect(page.locator("h1")).to_have_text("Are you in full-time education or training?")
    page.get_by_label("Yes").check()
    site.submit("Continue")
    site.submit("Send request")
    expect(page.locator("h1")).to_have_text("Request sent")
    expect(page.locator("#main-content")).to_contain_text("a letter from your school")
    assert_accessible(page, label="request sent")


@pytest.mark.browser
def test_the_journey_works_without_javascript(no_js_page: Page, live_app: Flask) -> None:  # noqa: F811
    page = no_js_page
    site = Site(live_app, page)
    someone = site.resident(date_of_birth=date(1980, 1, 1))
    site.sign_in(someone)
    page.goto("/account/services/bus-pass-disabled")
    page.get_by_role("button", name="Continue").click()
    response = site.submit("Continue")  # nothing chosen
    assert response.status == 400
    expect(page.locator(".kc-error-summary")).to_contain_text("Select the disability")
    page.get_by_label("A disability or injury seriously affects your walking", exact=False).check()
    site.submit("Continue")
    expect(page.locator("h1")).to_have_text("Check your answers")
    site.submit("Send request")
    expect(page.locator("h1")).to_have_text("Request sent")
