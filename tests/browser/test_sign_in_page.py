"""Signing in through the real page, by keyboard alone and with mistakes."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from idservice.models.residents import Resident
from tests.browser.axe import assert_accessible
from tests.factories import DEFAULT_PASSWORD


@pytest.mark.browser
def test_resident_signs_in_by_keyboard_alone(
    page: Page, resident_factory: Callable[..., Resident]
) -> None:
    resident = resident_factory()
    page.goto("/sign-in")
    # Tab from the top of the page until the email field has focus.
    for _ in range(15):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.id") == "email":
            break
    else:
        pytest.fail("the email field cannot be reached with the Tab key")
    page.keyboard.type(str(resident.email))
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.id") == "password"
    page.keyboard.type(DEFAULT_PASSWORD)
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{page.url.split('/', 3)[0]}//{page.url.split('/', 3)[2]}/account")
    expect(page.locator("h1")).to_have_text("Your account")
    assert_accessible(page, label="account page")


@pytest.mark.browser
def test_wrong_password_keeps_the_email_and_explains_next_to_the_field(
    page: Page, resident_factory: Callable[..., Resident]
) -> None:
    resident = resident_factory()
    page.goto("/sign-in")
    page.get_by_label("Email address").fill(str(resident.email))
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page).to_have_title("Error: Sign in to your Kent account \u2013 Kent County Council")
    expect(page.locator(".kc-error-summary")).to_contain_text("do not match our records")
    expect(page.locator("#email-error")).to_contain_text("do not match our records")
    expect(page.get_by_label("Email address")).to_have_value(str(resident.email))
    expect(page.get_by_label("Password")).to_have_value("")
    assert_accessible(page, label="sign-in with an error")


@pytest.mark.browser
def test_sign_in_works_without_javascript(
    browser: object, live_server: object, resident_factory: Callable[..., Resident]
) -> None:
    from playwright.sync_api import Browser

    from tests.conftest import LiveServer

    assert isinstance(browser, Browser) and isinstance(live_server, LiveServer)
    resident = resident_factory()
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto("/sign-in")
        page.get_by_label("Email address").fill(str(resident.email))
        page.get_by_label("Password").fill(DEFAULT_PASSWORD)
        page.get_by_role("button", name="Sign in", exact=True).click()
        expect(page.locator("h1")).to_have_text("Your account")
    finally:
        context.close()
