"""The core journeys work with JavaScript turned off, and the passkey buttons, which need
it, are only shown when it is on."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect

from tests.browser.site import REGISTRATION, Site
from tests.conftest import LiveServer

LANGUAGE = "Polish"


@pytest.fixture
def no_js_page(browser: Browser, live_server: LiveServer) -> Iterator[Page]:
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


@pytest.mark.browser
def test_register_confirm_sign_in_change_and_sign_out_without_javascript(
    no_js_page: Page, live_app: Flask
) -> None:
    page = no_js_page
    site = Site(live_app, page)
    page.goto("/")
    page.get_by_role("link", name="Create an account").click()

    # A mistake first: the page comes back with the error summary, what was typed kept.
    site.fill({**REGISTRATION, "email": "no-js@example.com", "password_confirm": "typo"})
    response = site.submit("Create account")
    assert response.status == 400
    expect(page.locator(".kc-error-summary")).to_contain_text("Passwords must match")
    expect(page.locator("#given_name")).to_have_value(REGISTRATION["given_name"])
    site.fill({"password": REGISTRATION["password"], "password_confirm": REGISTRATION["password"]})
    site.submit("Create account")
    expect(page.locator("h1")).to_have_text("Check your email to finish creating your account")

    page.goto(site.link("confirm_email"))
    expect(page.locator("h1")).to_have_text("Email address confirmed")
    page.get_by_role("link", name="Sign in to your account").click()

    expect(page.get_by_role("button", name="Sign in with a passkey")).to_be_hidden()
    expect(page.get_by_role("heading", name="Sign in with a passkey")).to_be_hidden()
    site.fill({"email": "no-js@example.com", "password": REGISTRATION["password"]})
    site.submit("Sign in")
    expect(page.locator("h1")).to_have_text("Your account")

    page.get_by_role("link", name="Change name").click()
    site.fill({"given_name": "Amazing Grace"})
    site.submit("Save changes")
    expect(page.locator(".kc-notification-banner--success")).to_contain_text(
        "Your changes have been saved"
    )
    expect(page.locator(".kc-summary-list").first).to_contain_text("Amazing Grace Hopper")

    page.get_by_role("link", name="Change language").click()
    page.get_by_label(LANGUAGE).check()
    site.submit("Save changes")
    expect(page.locator(".kc-summary-list").nth(1)).to_contain_text(LANGUAGE)

    page.goto("/account/security")
    expect(page.get_by_role("button", name="Add a passkey")).to_be_hidden()
    expect(page.get_by_text("with JavaScript turned on")).to_be_visible()

    with page.expect_navigation():
        page.locator("header").get_by_role("button", name="Sign out").click()
    expect(page.locator("h1")).to_have_text("You have signed out")
    page.goto("/account")
    expect(page.locator("h1")).to_have_text("Sign in to your Kent account")


@pytest.mark.browser
def test_passkey_buttons_are_shown_when_javascript_is_on(page: Page, live_app: Flask) -> None:
    """The other half of the check above, so that "hidden" means something."""
    page.goto("/sign-in")
    assert page.evaluate("() => typeof window.PublicKeyCredential") == "function"
    expect(page.get_by_role("button", name="Sign in with a passkey")).to_be_visible()
    site = Site(live_app, page)
    site.sign_in(site.resident())
    page.goto("/account/security")
    expect(page.get_by_role("button", name="Add a passkey")).to_be_visible()
    expect(page.get_by_text("with JavaScript turned on")).to_be_hidden()
