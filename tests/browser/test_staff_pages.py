"""Staff journeys in Chromium: signing in by keyboard alone, the first sign-in's app setup,
a Gateway visit from search to proof of identity, and a bus pass request decided after
the documents are recorded once, without JavaScript. Each page's axe check in normal and
error states is in ``staff_pages.py`` (part of the one page list)."""

from __future__ import annotations

import pyotp
import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from tests.browser.axe import assert_accessible
from tests.browser.site import Site
from tests.browser.staff_pages import new_officer, staff_sign_in, staff_signed_in
from tests.browser.test_without_javascript import no_js_page  # noqa: F401  (fixture)
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
    for document, reference, shown in (
        ("Passport", "501234567", "Date of birth: 10 December 1956"),
        ("Council Tax bill", "CT99887766", "Address: Sessions House, Maidstone, ME14 1XQ"),
    ):
        page.get_by_role("link", name="Record proof of identity").click()
        page.get_by_label(document, exact=True).check()
        site.submit("Continue")
        expect(page.locator("h1")).to_have_text(document)
        site.fill({"reference": reference})
        page.get_by_label(shown).check()
        site.submit("Record")
    expect(page.locator(".kc-notification-banner--success")).to_contain_text(
        "Identity: Documents seen by council staff"
    )
    expect(page.locator(".kc-notification-banner--success")).to_contain_text(
        "Recorded from it: address"
    )
    expect(page.locator("#main-content")).to_contain_text("4567")
    facts = page.locator("#facts + .kc-summary-list")
    expect(facts).to_contain_text("Checked: council staff saw a document (Passport ending 4567)")
    expect(facts).to_contain_text("(Council Tax bill ending 7766)")
    assert_accessible(page, label="record with proof of identity")


@pytest.mark.browser
def test_evidence_once_without_javascript(no_js_page: Page, live_app: Flask) -> None:  # noqa: F811
    """A bus pass request waiting for proof is decided after one passport and one bill."""
    page = no_js_page
    site = Site(live_app, page)
    staff_signed_in(site)
    resident = site.resident()
    page.goto(f"/staff/residents/{resident.id}/open")
    page.get_by_label("Face to face").check()
    site.fill({"reason": "Resident at the desk for a bus pass"})
    site.submit("Open record")
    page.goto(f"/staff/residents/{resident.id}/services/bus-pass-older/check")
    site.submit("Send request")
    page.get_by_role("link", name="Decide the request").click()
    expect(page.locator("#main-content")).to_contain_text(
        "Still needed: home postcode, date of birth"
    )
    page.get_by_role("link", name="Record it as proof of identity").click()
    site.submit("Continue")  # nothing chosen: the error summary, without JavaScript
    expect(page.locator(".kc-error-summary")).to_contain_text("Select the type of document")
    page.get_by_label("Passport", exact=True).check()
    site.submit("Continue")
    site.fill({"reference": "501234567"})
    response = site.submit("Record")  # the date of birth not confirmed
    assert response.status == 400
    expect(page.locator(".kc-error-summary")).to_contain_text("Confirm the document shows")
    expect(page.locator("#reference")).to_have_value("501234567")
    page.get_by_label("Date of birth: 10 December 1956").check()
    site.submit("Record")
    expect(page.locator("h1")).to_contain_text("Request for")  # back to the request
    page.get_by_role("link", name="Record it as proof of identity").click()
    page.get_by_label("Utility bill", exact=True).check()
    site.submit("Continue")
    site.fill({"reference": "ELEC00998877"})
    page.get_by_label("Address: Sessions House, Maidstone, ME14 1XQ").check()
    site.submit("Record")
    expect(page.locator("#main-content")).to_contain_text("Ready to decide")
    expect(page.locator("#main-content")).not_to_contain_text("Not checked")
    page.get_by_label("Approve: grant the service now").check()
    site.submit("Save decision")
    expect(page.locator(".kc-notification-banner")).to_contain_text("granted")
