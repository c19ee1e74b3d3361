"""'Confirm it is you' in a real browser: with JavaScript off, a change typed into a page
left open past the window is kept through the password check; with it on, the passkey
button sends the resident to confirm first instead of failing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import update

from idservice.db import db_session
from idservice.models import ResidentSession
from idservice.models.base import utcnow
from tests.browser.site import Site, Someone
from tests.conftest import LiveServer
from tests.factories import DEFAULT_PASSWORD


@pytest.fixture
def no_js_page(browser: Browser, live_server: LiveServer) -> Iterator[Page]:
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def walk_away(app: Flask, someone: Someone, minutes: int = 20) -> None:
    with app.app_context():
        try:
            db_session.execute(
                update(ResidentSession)
                .where(ResidentSession.resident_id == someone.id)
                .values(auth_time=utcnow() - timedelta(minutes=minutes))
            )
            db_session.commit()
        finally:
            db_session.remove()


@pytest.mark.browser
def test_what_was_typed_is_kept_through_confirm_it_is_you(
    no_js_page: Page, live_app: Flask
) -> None:
    page = no_js_page
    site = Site(live_app, page)
    someone = site.resident()
    site.sign_in(someone)
    page.goto("/account/change/email")
    site.fill({"email": "new-address@example.com"})
    walk_away(live_app, someone)
    site.submit("Send the link")
    expect(page.locator("h1")).to_have_text("Confirm it is you")
    expect(page.get_by_text("What you typed has been kept")).to_be_visible()
    site.fill({"password": DEFAULT_PASSWORD})
    site.submit("Continue")
    expect(page.locator("h1")).to_have_text("Change your email address")
    expect(page.locator("#email")).to_have_value("new-address@example.com")
    site.submit("Send the link")
    expect(page.locator("h1")).to_contain_text("Check your email")
    assert [m.recipient for m in site.emails("change_email")] == ["new-address@example.com"]


@pytest.mark.browser
def test_adding_a_passkey_after_the_window_asks_to_confirm_first(
    page: Page, live_app: Flask
) -> None:
    site = Site(live_app, page)
    someone = site.resident()
    site.signed_in(someone)
    page.goto("/account/security")
    walk_away(live_app, someone)
    with page.expect_navigation():
        page.get_by_role("button", name="Add a passkey").click()
    expect(page.locator("h1")).to_have_text("Confirm it is you")
    assert page.url.endswith("/account/confirm-it-is-you?next=/account/security")
