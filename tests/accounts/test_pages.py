"""Every resident page renders, has a unique title and one h1, and follows the layout."""

from __future__ import annotations

import re
from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient

from idservice.auth.levels import AMR_PASSWORD
from idservice.models import Resident
from tests.accounts.conftest import submit, text
from tests.factories import sign_in_client

PUBLIC_PAGES = [
    "/",
    "/sign-in",
    "/register",
    "/register/check-your-email",
    "/forgot-password",
    "/forgot-password/check-your-email",
    "/reset-password/done",
    "/signed-out",
    "/sign-out",
    "/account/closed",
    "/accessibility",
    "/privacy",
    "/contact",
]

SIGNED_IN_PAGES = [
    "/account",
    "/account/activity",
    "/account/security",
    "/account/security/authenticator-app",
    "/account/change/name",
    "/account/change/date-of-birth",
    "/account/change/address",
    "/account/change/phone",
    "/account/change/language",
    "/account/change/alternative-formats",
    "/account/change/text-relay",
    "/account/change/email",
    "/account/change/email/check-your-email",
    "/account/change/password",
    "/account/close",
    "/account/confirm-email/sent",
    "/sign-in/step-up?next=/account",
]

TITLE = re.compile(r"<title>(.*?)</title>", re.S)


def _title(html: str) -> str:
    match = TITLE.search(html)
    assert match
    return match.group(1).strip()


def test_public_pages_render_with_unique_titles(client: FlaskClient) -> None:
    titles = {}
    for path in PUBLIC_PAGES:
        response = client.get(path)
        assert response.status_code == 200, path
        html = text(response)
        assert html.count("<h1") == 1, path
        titles[path] = _title(html)
    assert len(set(titles.values())) == len(titles), titles


def test_signed_in_pages_render_with_unique_titles(
    app: Flask, client: FlaskClient, make_resident: Callable[..., Resident]
) -> None:
    resident = make_resident(email_confirmed=False)
    sign_in_client(app, client, resident, AMR_PASSWORD)
    titles = {}
    for path in SIGNED_IN_PAGES:
        response = client.get(path)
        assert response.status_code == 200, path
        html = text(response)
        assert html.count("<h1") == 1, path
        assert 'id="main-content"' in html
        titles[path] = _title(html)
    assert len(set(titles.values())) == len(titles), titles
    assert len(set(titles.values()) & {_title(text(client.get(p))) for p in PUBLIC_PAGES}) == 0


def test_signed_in_pages_need_sign_in(client: FlaskClient) -> None:
    for path in SIGNED_IN_PAGES:
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/sign-in?next="), path


def test_error_pages_have_error_prefix_in_title(client: FlaskClient) -> None:
    response = submit(client, "/sign-in", {"email": "", "password": ""})
    assert response.status_code == 400
    assert _title(text(response)).startswith("Error: ")
    assert not _title(text(client.get("/sign-in"))).startswith("Error: ")


def test_account_overview_lists_details_with_change_links(
    app: Flask, client: FlaskClient, make_resident: Callable[..., Resident]
) -> None:
    resident = make_resident(phone="01632960001")
    sign_in_client(app, client, resident)
    html = text(client.get("/account"))
    for expected in (
        "Ada Lovelace",
        "10 December 1956",
        "Sessions House",
        "ME14 1XQ",
        resident.email,
        "01632960001",
        'href="/account/change/name"',
        'href="/account/change/email"',
        'href="/account/change/password"',
        'href="/account/connected-services">Services you have connected',
        'href="/account/activity"',
        'href="/account/close"',
        'href="/account/security"',
        "English",
        "Text Relay",
    ):
        assert expected in html, expected
    assert "Confirm your email address" not in html


def test_unconfirmed_email_shows_banner_with_resend_button(
    app: Flask, client: FlaskClient, make_resident: Callable[..., Resident], outbox
) -> None:
    resident = make_resident(email_confirmed=False)
    sign_in_client(app, client, resident)
    html = text(client.get("/account"))
    assert "Confirm your email address" in html
    response = submit(client, "/account/confirm-email/resend", {}, page="/account")
    assert response.status_code == 302
    assert len(outbox("confirm_email", resident.email)) == 1


def test_passkey_script_is_external_and_no_inline_scripts(client: FlaskClient) -> None:
    html = text(client.get("/sign-in"))
    assert '<script src="/static/js/passkeys.js" defer></script>' in html
    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) is None
    assert client.get("/static/js/passkeys.js").status_code == 200
    assert "script-src 'self'" in client.get("/sign-in").headers["Content-Security-Policy"]


def test_ids_are_unique_on_every_form_page(
    app: Flask, client: FlaskClient, make_resident: Callable[..., Resident]
) -> None:
    resident = make_resident()
    sign_in_client(app, client, resident)
    for path in [*SIGNED_IN_PAGES, "/register"]:
        ids = re.findall(r'\sid="([^"]+)"', text(client.get(path)))
        assert len(ids) == len(set(ids)), (path, ids)
