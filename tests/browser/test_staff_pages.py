"""Staff journeys in Chromium: signing in by keyboard alone, the first sign-in's app setup,
and a Gateway visit from search to proof of identity. Each page's axe check in normal and
error states is in ``staff_pages.py`` (part of the one page list)."""

from __future__ import annotations

import pyotp
import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from tests.browser.axe import assert_accessible
from tests.browser.site import Site
from tests.browser.staff_pages import new_officer, staff_sign_in
from tests.factories import STAFF_PASSWORD


def _tab_to(page: Page, element_id: str, limit: int = 20) -> None:
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.id") == element_id:
            return
    pytest.fail(f"#{element_id} cannot be reached with the Tab key")


@pytest.mark.browser
def test_staff_sign_in_by_keyboard_alone(page: Page, live_app: Flask) -> None:
    officer = new_officer(Site(live_app, page))
    assert officer.secret is not None
    page.goto("/staff/sign-in")
    _tab_to(page, "email")
    page.keyboard.type(officer.email)
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.id") == "password"
    page.keyboard.type(STAFF_PASSWORD)
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("Enter the code from your authenticator app")
    _tab_to(page, "code")
    page.keyboard.type(pyotp.TOTP(officer.secret).now())
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("Staff console")
    assert_accessible(page, label="staff console after keyboard sign-in")


@pytest.mark.browser
def test_first_sign_in_sets_up_the_app_from_the_key_on_the_page(
    page: Page, live_app: Flask
) -> None:
    site = Site(live_app, page)
    staff_sign_in(site, new_officer(site, authenticator=False))
    expect(page.locator("h1")).to_have_text("Set up an authenticator app")
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    page.goto("/staff/search")  # nothing else opens until the app is set up
    expect(page.locator("h1")).to_have_text("Sign in to the staff console")
    page.go_back()
    site.fill({"code": pyotp.TOTP(secret).now()})
    site.submit("Continue")
    expect(page.locator("h1")).to_have_text("Staff console")


@pytest.mark.browser
def test_a_gateway_visit_from_search_to_proof_of_identity(page: Page, live_app: Flask) -> None:
    site = Site(live_app, page)
    site.resident()
    officer = new_officer(site)
    staff_sign_in(site, officer)
    site.fill({"code": pyotp.TOTP(str(officer.secret)).now()})
    site.submit("Continue")
    page.get_by_role("link", name="Find a resident").click()
    site.fill({"family_name": "Lovelace", "date_of_birth-day": "10"})
    site.fill({"date_of_birth-month": "12", "date_of_birth-year": "1956"})
    site.submit("Search")
    page.get_by_role("link", name="Ada Lovelace").click()
    page.get_by_label("Face to face").check()
    site.fill({"reason": "Resident at the desk for a Kent Card"})
    site.submit("Open record")
    expect(page.locator("h1")).to_have_text("Ada Lovelace")
    for document, reference in (("Passport", "501234567"), ("Council Tax bill", "CT99887766")):
        page.get_by_role("link", name="Record proof of identity").click()
        page.get_by_label(document, exact=True).check()
        site.fill({"reference": reference})
        site.submit("Record")
    expect(page.locator(".kc-notification-banner")).to_contain_text(
        "Identity: Documents seen by council staff"
    )
    expect(page.locator("#main-content")).to_contain_text("4567")
    assert_accessible(page, label="record with proof of identity")
