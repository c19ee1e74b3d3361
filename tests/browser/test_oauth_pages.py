"""The OpenID provider's pages in Chromium: consent, errors, logout, connected services."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Callable
from urllib.parse import urlencode

import pytest
from flask import Flask
from playwright.sync_api import Page, Route, expect

from idservice.db import db_session
from idservice.models.residents import Resident
from idservice.oauth.clients import register_client
from tests.browser.axe import assert_accessible
from tests.factories import DEFAULT_PASSWORD

REDIRECT_URI = "https://leisure.example/callback"


def register(app: Flask) -> str:
    with app.app_context():
        registered = register_client(
            name="Kent Leisure",
            redirect_uris=[REDIRECT_URI],
            grant_types=["authorization_code"],
            scope="openid profile email address",
        )
        db_session.commit()
        return registered.client.client_id


def authorize_path(client_id: str, redirect_uri: str = REDIRECT_URI) -> str:
    verifier = secrets.token_urlsafe(48)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": "openid profile email address",
        "state": "s1",
        "nonce": "n1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    return "/oauth/authorize?" + urlencode(query)


def sign_in(page: Page, resident: Resident) -> None:
    page.get_by_label("Email address").fill(str(resident.email))
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()


@pytest.mark.browser
def test_consent_then_connected_services_and_withdrawal(
    page: Page, app: Flask, resident_factory: Callable[..., Resident]
) -> None:
    resident = resident_factory()
    client_id = register(app)
    page.route("https://leisure.example/**", lambda route: route.fulfill(body="RP"))
    page.goto(authorize_path(client_id))
    sign_in(page, resident)
    expect(page.locator("h1")).to_have_text("Kent Leisure wants to use your Kent account")
    expect(page.locator("main li")).to_contain_text(["name"], use_inner_text=True)
    assert_accessible(page, label="consent")
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url("https://leisure.example/**")

    page.goto("/account/connected-services")
    expect(page.locator("main")).to_contain_text("Kent Leisure")
    assert_accessible(page, label="connected services")
    page.get_by_role("button", name="Stop sharing").first.click()
    expect(page.locator(".kc-notification-banner")).to_contain_text(
        "Kent Leisure can no longer use your Kent account"
    )
    assert_accessible(page, label="connected services after withdrawal")


@pytest.mark.browser
def test_cancel_on_the_consent_page_returns_access_denied(
    page: Page, app: Flask, resident_factory: Callable[..., Resident]
) -> None:
    resident = resident_factory()
    client_id = register(app)
    seen: list[str] = []

    def back_at_rp(route: Route) -> None:
        seen.append(route.request.url)
        route.fulfill(body="RP")

    page.route("https://leisure.example/**", back_at_rp)
    page.goto(authorize_path(client_id))
    sign_in(page, resident)
    page.get_by_role("button", name="Cancel").click()
    page.wait_for_url("https://leisure.example/**")
    assert "error=access_denied" in seen[-1]


@pytest.mark.browser
def test_a_wrong_redirect_uri_shows_an_error_page_and_never_redirects(
    page: Page, app: Flask
) -> None:
    client_id = register(app)
    response = page.goto(authorize_path(client_id, "https://attacker.example/steal"))
    assert response is not None and response.status == 400
    assert page.url.startswith(page.url.split("/oauth/")[0])
    expect(page.locator("h1")).to_be_visible()
    assert_accessible(page, label="authorization error page")


@pytest.mark.browser
def test_logout_without_a_hint_asks_first(
    page: Page, resident_factory: Callable[..., Resident]
) -> None:
    resident = resident_factory()
    page.goto("/sign-in")
    sign_in(page, resident)
    page.goto("/oauth/logout")
    expect(page.locator("h1")).to_be_visible()
    assert_accessible(page, label="logout confirmation")
    page.locator("main").get_by_role("button", name="Sign out").click()
    expect(page.locator("h1")).to_have_text("You have signed out")
    assert_accessible(page, label="signed out")
