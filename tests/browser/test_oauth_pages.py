"""Journeys through the OpenID provider's pages in Chromium (their axe checks are listed
with every other page in ``pages.py``)."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from flask import Flask
from playwright.sync_api import Page, Route, expect

from tests.browser.pages import authorize_path, relying_party, someone_elses_id_token
from tests.browser.site import Site


@pytest.mark.browser
def test_withdrawing_consent_from_connected_services(page: Page, live_app: Flask) -> None:
    site = Site(live_app, page)
    client_id = relying_party(site)
    page.route("https://leisure.example/**", lambda route: route.fulfill(body="RP"))
    site.signed_in(site.resident())
    page.goto(authorize_path(client_id))
    expect(page.locator("h1")).to_have_text("Kent Leisure wants to use your Kent account")
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url("https://leisure.example/**")
    page.goto("/account/connected-services")
    page.get_by_role("button", name="Stop sharing").first.click()
    expect(page.locator(".kc-notification-banner")).to_contain_text(
        "Kent Leisure can no longer use your Kent account"
    )
    expect(page.locator("main")).to_contain_text("You have not connected any services")


@pytest.mark.browser
def test_cancel_on_the_consent_page_returns_access_denied(page: Page, live_app: Flask) -> None:
    site = Site(live_app, page)
    client_id = relying_party(site)
    seen: list[str] = []

    def back_at_rp(route: Route) -> None:
        seen.append(route.request.url)
        route.fulfill(body="RP")

    page.route("https://leisure.example/**", back_at_rp)
    site.signed_in(site.resident())
    page.goto(authorize_path(client_id))
    page.get_by_role("button", name="Cancel").click()
    page.wait_for_url("https://leisure.example/**")
    assert "error=access_denied" in seen[-1]
    assert "state=s" in seen[-1]


@pytest.mark.browser
def test_a_wrong_redirect_uri_never_leaves_the_service(page: Page, live_app: Flask) -> None:
    site = Site(live_app, page)
    client_id = relying_party(site)
    response = page.goto(authorize_path(client_id, "https://attacker.example/steal"))
    assert response is not None and response.status == 400
    assert page.url.startswith(site.app.config["KENTCARD"].issuer + "/oauth/authorize")


@pytest.mark.browser
def test_logout_without_a_hint_asks_first_then_signs_out(page: Page, live_app: Flask) -> None:
    site = Site(live_app, page)
    site.signed_in(site.resident())
    page.goto("/oauth/logout")
    page.locator("main").get_by_role("button", name="Sign out").click()
    expect(page.locator("h1")).to_have_text("You have signed out")
    page.goto("/account")
    expect(page.locator("h1")).to_have_text("Sign in to your Kent account")


@pytest.mark.browser
def test_logout_with_someone_elses_id_token_asks_first(page: Page, live_app: Flask) -> None:
    site = Site(live_app, page)
    client_id = relying_party(site)
    hint = someone_elses_id_token(site, client_id)
    site.signed_in(site.resident())
    page.goto("/oauth/logout?" + urlencode({"id_token_hint": hint}))
    expect(page.locator("h1")).to_have_text("Do you want to sign out of your Kent account?")
    expect(page.locator("main")).to_contain_text("Kent Leisure asked us to sign you out.")
    page.get_by_role("link", name="Stay signed in").click()
    page.goto("/account")
    expect(page.locator("h1")).not_to_have_text("Sign in to your Kent account")
    page.goto("/oauth/logout?" + urlencode({"id_token_hint": hint}))
    page.locator("main").get_by_role("button", name="Sign out").click()
    expect(page.locator("h1")).to_have_text("You have signed out")
