"""One record per person in Chromium with JavaScript off: at the counter the likely match
is shown and the officer confirms a different person with everything typed kept; then a
Gateway officer checks a pair made online and says they are different people. (Each page's
axe check, with JavaScript on, is in ``duplicate_pages.py``.)"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect

from tests.browser.duplicate_pages import GRACE_BORN, SAME_AT_THE_COUNTER, registered_twice
from tests.browser.site import Site
from tests.browser.staff_pages import staff_signed_in
from tests.conftest import LiveServer


@pytest.fixture
def no_js_page(browser: Browser, live_server: LiveServer) -> Iterator[Page]:
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


@pytest.mark.browser
def test_registering_at_the_counter_someone_who_may_have_a_record(
    no_js_page: Page, live_app: Flask
) -> None:
    page = no_js_page
    site = Site(live_app, page)
    existing = site.resident(given_name="Grace", family_name="Hopper", date_of_birth=GRACE_BORN)
    staff_signed_in(site, "library-staff")
    page.goto("/staff/residents/new")
    site.fill({**SAME_AT_THE_COUNTER, "given_name": "Gracie"})
    page.get_by_label("By phone").check()
    assert site.submit("Register resident").status == 400
    table = page.get_by_role("region", name="Records that may be the same person")
    expect(table).to_contain_text(existing.id)
    expect(table).to_contain_text("9 December 1986")
    expect(page.locator("#given_name")).to_have_value("Gracie")
    expect(page.get_by_label("By phone")).to_be_checked()

    page.get_by_label("This is a different person from the records shown").check()
    site.fill({"different_person_reason": "Her cousin, also Grace: both birth certificates seen"})
    assert site.submit("Register resident").status == 200
    expect(page.locator("h1")).to_have_text("Gracie Hopper")
    expect(page.locator(".kc-warning-text")).to_have_count(0)  # checked already: no warning


@pytest.mark.browser
def test_a_gateway_officer_checks_a_pair_made_online(no_js_page: Page, live_app: Flask) -> None:
    page = no_js_page
    site = Site(live_app, page)
    registered_twice(site)
    staff_signed_in(site)
    page.goto("/staff/")
    page.get_by_role("link", name="Possible duplicate records").click()
    expect(page.locator("#main-content")).to_contain_text("1 possible duplicate to check")
    page.get_by_role("link", name="Check").click()
    expect(page.locator("h1")).to_have_text("Are these the same person?")
    assert "/merge?with=" in str(
        page.get_by_role("link", name="Merge these records").get_attribute("href")
    )
    site.fill({"note": "Different middle names on their passports"})
    site.submit("Not the same person")
    expect(page.locator(".kc-notification-banner")).to_contain_text("two different people")
    expect(page.locator("#main-content")).to_contain_text("no possible duplicates to check")
