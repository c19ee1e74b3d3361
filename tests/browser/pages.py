"""Every resident-facing page, in every state the browser tests check.

This is the one list of covered pages. ``test_account_pages.py`` visits each entry in
Chromium and runs axe-core on it; ``test_page_inventory.py`` walks ``app.url_map`` and fails
when a page that returns HTML has no entry here, so a new page cannot go unchecked.

Each visit is a function that drives the page into its state and returns the response of
the last navigation. The test then checks the page really belongs to ``endpoint`` (the
final URL must route there), has the expected status and, for error states, shows the
error summary with links to fields that exist.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from urllib.parse import urlencode

from joserfc import jwt
from playwright.sync_api import Page, Response

from idservice.auth.levels import ACR_CARD_PIN, AMR_PASSWORD_OTP
from idservice.db import db_session
from idservice.oauth import dao as oauth_dao
from idservice.oauth.claims import pairwise_sub
from idservice.oauth.clients import register_client
from idservice.oauth.tokens import keystore
from idservice.services import card_signin
from idservice.web.account_settings import CHANGE_PAGES
from tests.browser.site import NEW_PASSWORD, REGISTRATION, Site, Someone
from tests.factories import DEFAULT_PASSWORD

#: Not an endpoint: what any unknown address shows.
NOT_FOUND = "404"

#: GET routes that are not pages, with the reason. The inventory test checks each one
#: really answers with something other than HTML.
NOT_PAGES = {
    "static": "stylesheets and scripts",
    "core.healthz": "JSON health check for the load balancer",
    "oauth.userinfo": "JSON for relying parties (RFC 6750 errors)",
    "oauth.discovery": "JSON OpenID Provider metadata",
    "oauth.jwks": "JSON Web Key Set",
}

#: Machine-to-machine APIs, answered in JSON only.
EXCLUDED_PREFIXES = ("/api/",)

Run = Callable[[Page, Site], Response]


@dataclass(frozen=True)
class Visit:
    endpoint: str
    state: str
    run: Run
    status: int = 200
    #: "fields": error summary and a message next to at least one field;
    #: "form": error summary about the whole form (for example an expired page).
    errors: str | None = None

    @property
    def id(self) -> str:
        return f"{self.endpoint} [{self.state}]"


VISITS: list[Visit] = []


def visit(
    endpoint: str, state: str = "normal", *, status: int = 200, errors: str | None = None
) -> Callable[[Run], Run]:
    def register(run: Run) -> Run:
        VISITS.append(Visit(endpoint, state, run, status, errors))
        return run

    return register


def covered_endpoints() -> dict[str, list[str]]:
    """Endpoint -> the states visited."""
    covered: dict[str, list[str]] = {}
    for v in VISITS:
        covered.setdefault(v.endpoint, []).append(v.state)
    return covered


def _uncheck_all(page: Page, name: str) -> None:
    """Leave a question with radios unanswered (a person cannot clear radios once set)."""
    page.locator(f"input[name={name}]").evaluate_all("els => els.forEach(e => e.checked = false)")


def _expire_csrf(page: Page, scope: str = "#main-content") -> None:
    """As if the page had been left open until the session changed."""
    page.locator(f"{scope} input[name=csrf_token]").evaluate_all(
        "els => els.forEach(e => e.value = 'expired')"
    )


# Pages that belong to no account -------------------------------------------------------


@visit("core.home", "signed out")
def _home(page: Page, site: Site) -> Response:
    return _goto(page, "/")


@visit("core.home", "signed in")
def _home_signed_in(page: Page, site: Site) -> Response:
    site.signed_in(site.resident())
    return _goto(page, "/")


@visit("core.accessibility")
def _accessibility(page: Page, site: Site) -> Response:
    return _goto(page, "/accessibility")


@visit("core.privacy")
def _privacy(page: Page, site: Site) -> Response:
    return _goto(page, "/privacy")


@visit("core.contact")
def _contact(page: Page, site: Site) -> Response:
    return _goto(page, "/contact")


@visit(NOT_FOUND, status=404)
def _not_found(page: Page, site: Site) -> Response:
    return _goto(page, "/no-such-page")


@visit(NOT_FOUND, "signed in", status=404)
def _not_found_signed_in(page: Page, site: Site) -> Response:
    site.signed_in(site.resident())
    return _goto(page, "/no-such-page")


# Signing in and out ----------------------------------------------------------------------


@visit("accounts.sign_in")
def _sign_in(page: Page, site: Site) -> Response:
    return _goto(page, "/sign-in")


@visit("accounts.sign_in", "empty", status=400, errors="fields")
def _sign_in_empty(page: Page, site: Site) -> Response:
    page.goto("/sign-in")
    return site.submit("Sign in")


@visit("accounts.sign_in", "wrong password", status=400, errors="fields")
def _sign_in_wrong(page: Page, site: Site) -> Response:
    return site.sign_in(site.resident(), "not the password")


@visit("accounts.sign_in_code")
def _code(page: Page, site: Site) -> Response:
    return site.sign_in(site.resident(totp=True))


@visit("accounts.sign_in_code", "empty", status=400, errors="fields")
def _code_empty(page: Page, site: Site) -> Response:
    site.sign_in(site.resident(totp=True))
    return site.submit("Continue")


@visit("accounts.sign_in_code", "wrong code", status=400, errors="fields")
def _code_wrong(page: Page, site: Site) -> Response:
    site.sign_in(site.resident(totp=True))
    site.fill({"code": "12345a"})
    return site.submit("Continue")


@visit("accounts.sign_out", "sign-out page")
def _sign_out_page(page: Page, site: Site) -> Response:
    site.signed_in(site.resident())
    return _goto(page, "/sign-out")


@visit("accounts.sign_out", "expired page", status=400, errors="form")
def _sign_out_bad_csrf(page: Page, site: Site) -> Response:
    site.sign_in(site.resident())
    _expire_csrf(page, "header")
    with page.expect_navigation() as navigation:
        page.locator("header").get_by_role("button", name="Sign out").click()
    return _response(navigation.value)


@visit("accounts.signed_out")
def _signed_out(page: Page, site: Site) -> Response:
    site.sign_in(site.resident())
    with page.expect_navigation() as navigation:
        page.locator("header").get_by_role("button", name="Sign out").click()
    return _response(navigation.value)


# Creating an account and confirming the email address ------------------------------------


@visit("accounts.register")
def _register(page: Page, site: Site) -> Response:
    return _goto(page, "/register")


@visit("accounts.register", "empty", status=400, errors="fields")
def _register_empty(page: Page, site: Site) -> Response:
    page.goto("/register")
    return site.submit("Create account")


@visit("accounts.register", "bad answers", status=400, errors="fields")
def _register_bad(page: Page, site: Site) -> Response:
    page.goto("/register")
    site.fill(
        {
            **REGISTRATION,
            "date_of_birth-day": "31",
            "date_of_birth-month": "2",
            "postcode": "not a postcode",
            "email": "not an email",
            "phone": "call me",
            "password": "short",
            "password_confirm": "different",
        }
    )
    return site.submit("Create account")


@visit("accounts.register_check_email")
def _register_sent(page: Page, site: Site) -> Response:
    return site.register("new-resident@example.com")


@visit("accounts.confirm_email", "confirmed")
def _confirmed(page: Page, site: Site) -> Response:
    site.register("new-resident@example.com")
    return _goto(page, site.link("confirm_email"))


@visit("accounts.confirm_email", "already confirmed, signed in")
def _already_confirmed(page: Page, site: Site) -> Response:
    site.register("new-resident@example.com")
    link = site.link("confirm_email")
    page.goto(link)
    site.sign_in(Someone("", "new-resident@example.com"), REGISTRATION["password"])
    return _goto(page, link)


@visit("accounts.confirm_email", "link expired", status=400)
def _confirm_expired(page: Page, site: Site) -> Response:
    return _goto(page, "/confirm-email/not-a-real-token")


@visit("accounts.resend_confirmation_sent")
def _resent(page: Page, site: Site) -> Response:
    site.signed_in(site.resident(email_confirmed=False))
    page.goto("/account")
    return site.submit("Send the email again")


# Forgotten password -------------------------------------------------------------------


@visit("accounts.forgot_password")
def _forgot(page: Page, site: Site) -> Response:
    return _goto(page, "/forgot-password")


@visit("accounts.forgot_password", "bad email", status=400, errors="fields")
def _forgot_bad(page: Page, site: Site) -> Response:
    page.goto("/forgot-password")
    site.fill({"email": "not an email"})
    return site.submit()


@visit("accounts.forgot_password_sent")
def _forgot_sent(page: Page, site: Site) -> Response:
    page.goto("/forgot-password")
    site.fill({"email": site.resident().email})
    return site.submit()


def _reset_link(page: Page, site: Site) -> str:
    _forgot_sent(page, site)
    return site.link("reset_password")


@visit("accounts.reset_password")
def _reset(page: Page, site: Site) -> Response:
    return _goto(page, _reset_link(page, site))


@visit("accounts.reset_password", "passwords differ", status=400, errors="fields")
def _reset_mismatch(page: Page, site: Site) -> Response:
    page.goto(_reset_link(page, site))
    site.fill({"password": NEW_PASSWORD, "password_confirm": "something else entirely"})
    return site.submit()


@visit("accounts.reset_password", "link expired", status=400)
def _reset_expired(page: Page, site: Site) -> Response:
    return _goto(page, "/reset-password/not-a-real-token")


@visit("accounts.password_reset_done")
def _reset_done(page: Page, site: Site) -> Response:
    page.goto(_reset_link(page, site))
    site.fill({"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD})
    return site.submit()


# The account overview, details and preferences ----------------------------------------


@visit("accounts.account", "email confirmed")
def _account(page: Page, site: Site) -> Response:
    return site.sign_in(site.resident())


@visit("accounts.account", "email not confirmed")
def _account_unconfirmed(page: Page, site: Site) -> Response:
    return site.sign_in(site.resident(email_confirmed=False))


@visit("accounts.account", "changes saved")
def _account_saved(page: Page, site: Site) -> Response:
    site.signed_in(site.resident())
    page.goto("/account/change/phone")
    site.fill({"phone": "07700 900 982"})
    return site.submit("Save changes")


#: How to get each change page into its error state.
CHANGE_ERRORS: dict[str, Callable[[Page, Site], None]] = {
    "name": lambda page, site: site.fill({"given_name": "", "family_name": ""}),
    "date-of-birth": lambda page, site: site.fill(
        {"date_of_birth-day": "30", "date_of_birth-month": "2", "date_of_birth-year": "19x"}
    ),
    "address": lambda page, site: site.fill({"address_line_1": "", "town": "", "postcode": "?"}),
    "phone": lambda page, site: site.fill({"phone": "not a number"}),
    "language": lambda page, site: _uncheck_all(page, "language"),
    "alternative-formats": lambda page, site: page.locator(
        "input[name=alternative_formats]"
    ).first.evaluate("e => { e.value = 'carrier-pigeon'; e.checked = true; }"),
    "text-relay": lambda page, site: _uncheck_all(page, "text_relay"),
}


def _change_visits(slug: str) -> None:
    @visit("accounts.change_details", slug)
    def _normal(page: Page, site: Site) -> Response:
        site.signed_in(site.resident())
        return _goto(page, f"/account/change/{slug}")

    @visit("accounts.change_details", f"{slug}, error", status=400, errors="fields")
    def _error(page: Page, site: Site) -> Response:
        _normal(page, site)
        CHANGE_ERRORS[slug](page, site)
        return site.submit("Save changes")


for _slug in CHANGE_PAGES:
    _change_visits(_slug)


@visit("accounts.change_email")
def _change_email(page: Page, site: Site) -> Response:
    site.signed_in(site.resident())
    return _goto(page, "/account/change/email")


@visit("accounts.change_email", "same address", status=400, errors="fields")
def _change_email_same(page: Page, site: Site) -> Response:
    someone = site.resident()
    site.signed_in(someone)
    page.goto("/account/change/email")
    site.fill({"email": someone.email})
    return site.submit()


def _ask_for_new_email(page: Page, site: Site) -> Response:
    site.signed_in(site.resident())
    page.goto("/account/change/email")
    site.fill({"email": "new-address@example.com"})
    return site.submit()


@visit("accounts.change_email_sent")
def _change_email_sent(page: Page, site: Site) -> Response:
    return _ask_for_new_email(page, site)


@visit("accounts.confirm_email_change", "changed")
def _email_changed(page: Page, site: Site) -> Response:
    _ask_for_new_email(page, site)
    return _goto(page, site.link("change_email"))


@visit("accounts.confirm_email_change", "link expired", status=400)
def _email_change_expired(page: Page, site: Site) -> Response:
    return _goto(page, "/confirm-new-email/not-a-real-token")


@visit("accounts.undo_email_change")
def _undo_email_change(page: Page, site: Site) -> Response:
    _email_changed(page, site)
    return _goto(page, site.link("email_changed"))


@visit("accounts.undo_email_change", "expired page", status=400, errors="form")
def _undo_email_change_expired(page: Page, site: Site) -> Response:
    _undo_email_change(page, site)
    _expire_csrf(page)
    return site.submit("Change my email address back")


@visit("accounts.undo_email_change", "link expired", status=400)
def _undo_link_expired(page: Page, site: Site) -> Response:
    return _goto(page, "/undo-email-change/not-a-real-token")


@visit("accounts.email_change_undone")
def _email_change_undone(page: Page, site: Site) -> Response:
    _undo_email_change(page, site)
    return site.submit("Change my email address back")


# "Confirm it is you" before a sensitive change ------------------------------------------

_CONFIRM = "/account/confirm-it-is-you?next=/account/change/email"


@visit("accounts.reauthenticate", "password")
def _reauthenticate(page: Page, site: Site) -> Response:
    site.signed_in(site.resident())
    return _goto(page, _CONFIRM)


@visit("accounts.reauthenticate", "wrong password", status=400, errors="fields")
def _reauthenticate_wrong(page: Page, site: Site) -> Response:
    _reauthenticate(page, site)
    site.fill({"password": "not the password"})
    return site.submit("Continue")


@visit("accounts.reauthenticate", "app, passkey and Kent Card")
def _reauthenticate_all(page: Page, site: Site) -> Response:
    someone = site.resident(totp=True)
    site.add_passkey(someone)
    site.signed_in(someone, ["sc", "pin"])
    return _goto(page, _CONFIRM)


@visit("accounts.reauthenticate", "wrong code", status=400, errors="fields")
def _reauthenticate_wrong_code(page: Page, site: Site) -> Response:
    _reauthenticate_all(page, site)
    site.fill({"code": "000000"})
    with page.expect_navigation() as navigation:  # the second of two "Continue" buttons
        page.locator("#code").press("Enter")
    return _response(navigation.value)


@visit("accounts.change_password")
def _change_password(page: Page, site: Site) -> Response:
    site.signed_in(site.resident())
    return _goto(page, "/account/change/password")


@visit("accounts.change_password", "empty", status=400, errors="fields")
def _change_password_empty(page: Page, site: Site) -> Response:
    _change_password(page, site)
    return site.submit()


@visit("accounts.change_password", "wrong current password", status=400, errors="fields")
def _change_password_wrong(page: Page, site: Site) -> Response:
    _change_password(page, site)
    site.fill(
        {
            "current_password": "not the password",
            "password": NEW_PASSWORD,
            "password_confirm": NEW_PASSWORD,
        }
    )
    return site.submit()


@visit("accounts.account_activity")
def _activity(page: Page, site: Site) -> Response:
    site.signed_in(site.resident())
    return _goto(page, "/account/activity")


# Security: authenticator app, passkeys, step-up ---------------------------------------


@visit("accounts.security", "nothing set up")
def _security(page: Page, site: Site) -> Response:
    site.signed_in(site.resident())
    return _goto(page, "/account/security")


@visit("accounts.security", "app and passkey set up")
def _security_all(page: Page, site: Site) -> Response:
    someone = site.resident(totp=True)
    site.add_passkey(someone)
    site.sign_in_with_code(someone)  # through both sign-in pages
    return _goto(page, "/account/security")


@visit("accounts.totp_setup")
def _totp_setup(page: Page, site: Site) -> Response:
    site.signed_in(site.resident())
    return _goto(page, "/account/security/authenticator-app")


@visit("accounts.totp_setup", "wrong code", status=400, errors="fields")
def _totp_setup_wrong(page: Page, site: Site) -> Response:
    _totp_setup(page, site)
    site.fill({"code": "000000"})
    return site.submit("Turn on")


def _signed_in_with_app(page: Page, site: Site) -> None:
    site.signed_in(site.resident(totp=True), AMR_PASSWORD_OTP)


@visit("accounts.totp_turn_off")
def _totp_off(page: Page, site: Site) -> Response:
    _signed_in_with_app(page, site)
    return _goto(page, "/account/security/authenticator-app/turn-off")


@visit("accounts.totp_turn_off", "wrong password", status=400, errors="fields")
def _totp_off_wrong(page: Page, site: Site) -> Response:
    _totp_off(page, site)
    site.fill({"password": "not the password"})
    return site.submit()


def _passkey_remove_page(page: Page, site: Site) -> Response:
    someone = site.resident()
    passkey_id = site.add_passkey(someone)
    site.signed_in(someone)
    return _goto(page, f"/account/security/passkeys/{passkey_id}/remove")


@visit("accounts.passkey_remove")
def _passkey_remove(page: Page, site: Site) -> Response:
    return _passkey_remove_page(page, site)


@visit("accounts.passkey_remove", "expired page", status=400, errors="form")
def _passkey_remove_expired(page: Page, site: Site) -> Response:
    _passkey_remove_page(page, site)
    _expire_csrf(page)
    return site.submit("Remove passkey")


def _step_up_with_app(page: Page, site: Site) -> Response:
    someone = site.resident()
    site.signed_in(someone)  # password only, then the app is set up
    site.turn_on_totp(someone)
    return _goto(page, "/sign-in/step-up?next=/account")


@visit("accounts.step_up", "authenticator app")
def _step_up(page: Page, site: Site) -> Response:
    return _step_up_with_app(page, site)


@visit("accounts.step_up", "wrong code", status=400, errors="fields")
def _step_up_wrong(page: Page, site: Site) -> Response:
    _step_up_with_app(page, site)
    site.fill({"code": "000000"})
    return site.submit("Continue")


@visit("accounts.step_up", "passkey only")
def _step_up_passkey(page: Page, site: Site) -> Response:
    someone = site.resident()
    site.add_passkey(someone)
    site.signed_in(someone)
    return _goto(page, "/sign-in/step-up?next=/account")


@visit("accounts.step_up", "nothing set up")
def _step_up_nothing(page: Page, site: Site) -> Response:
    site.signed_in(site.resident())
    return _goto(page, "/sign-in/step-up?next=/account")


@visit("accounts.step_up", "Kent Card needed")
def _step_up_card(page: Page, site: Site) -> Response:
    site.signed_in(site.resident())
    query = urlencode({"next": "/account", "acr": ACR_CARD_PIN})
    return _goto(page, f"/sign-in/step-up?{query}")


# Card + PIN sign-in at a kiosk ----------------------------------------------------------


@visit("accounts.card_sign_in")
def _card_sign_in(page: Page, site: Site) -> Response:
    return _goto(page, "/sign-in/card")


@visit("accounts.card_sign_in", "page expired", status=400, errors="form")
def _card_sign_in_expired(page: Page, site: Site) -> Response:
    _card_sign_in(page, site)
    _expire_csrf(page)
    return site.submit("Start")


@visit("accounts.card_sign_in_wait", "waiting for the card")
def _card_wait(page: Page, site: Site) -> Response:
    _card_sign_in(page, site)
    return site.submit("Start")


@visit("accounts.card_sign_in_wait", "page expired", status=400, errors="form")
def _card_wait_expired(page: Page, site: Site) -> Response:
    _card_wait(page, site)
    _expire_csrf(page)
    return site.submit("Continue")


def _card_reader_reports(page: Page, site: Site, error: str, sw: int) -> Response:
    """The kiosk's reader picks up the challenge and reports what the card said."""
    _card_wait(page, site)
    code = page.locator("#sign-in-code").inner_text()
    with site.app.app_context():
        try:
            card_signin.reader_challenge(code, "kiosk-reader")
            card_signin.reader_report(code, "kiosk-reader", error, sw)
        finally:
            db_session.remove()
    return _goto(page, "/sign-in/card/wait")


@visit("accounts.card_sign_in_wait", "wrong PIN")
def _card_wrong_pin(page: Page, site: Site) -> Response:
    return _card_reader_reports(page, site, "wrong_pin", 0x63C2)


@visit("accounts.card_sign_in_wait", "PIN blocked", status=400)
def _card_blocked(page: Page, site: Site) -> Response:
    return _card_reader_reports(page, site, "pin_blocked", 0x6983)


# Closing the account ----------------------------------------------------------------------


@visit("accounts.close_account")
def _close(page: Page, site: Site) -> Response:
    site.signed_in(site.resident())
    return _goto(page, "/account/close")


@visit("accounts.close_account", "wrong password", status=400, errors="fields")
def _close_wrong(page: Page, site: Site) -> Response:
    _close(page, site)
    site.fill({"password": "not the password"})
    return site.submit("Close my account")


@visit("accounts.account_closed")
def _closed(page: Page, site: Site) -> Response:
    _close(page, site)
    site.fill({"password": DEFAULT_PASSWORD})
    return site.submit("Close my account")


# Helpers ----------------------------------------------------------------------------------


def _goto(page: Page, path: str) -> Response:
    return _response(page.goto(path))


def _response(response: Response | None) -> Response:
    assert response is not None, "no response from the page"
    return response


# The OpenID provider's pages --------------------------------------------------------------

RP_REDIRECT = "https://leisure.example/callback"


def relying_party(site: Site) -> str:
    with site.app.app_context():
        try:
            registered = register_client(
                name="Kent Leisure",
                redirect_uris=[RP_REDIRECT],
                grant_types=["authorization_code"],
                scope="openid profile email",
            )
            db_session.commit()
            return registered.client.client_id
        finally:
            db_session.remove()


def someone_elses_id_token(site: Site, client_id: str) -> str:
    """An ID token of another resident for ``client_id``, shaped and signed as the
    provider issues them (as a service that mixed up its users would send it)."""
    other = site.resident(email="someone.else@example.org")
    with site.app.app_context():
        try:
            conf = site.app.config["KENTCARD"]
            client = oauth_dao.dao_get_client(client_id)
            assert client is not None
            now = int(time.time())
            claims = {
                "iss": conf.issuer,
                "aud": client_id,
                "sub": pairwise_sub(conf, client.sector, other.id),
                "iat": now,
                "exp": now + conf.id_token_lifetime,
                "auth_time": now,
            }
            key = keystore().signing_key()
            return jwt.encode({"alg": "ES256", "kid": key.kid}, claims, key)
        finally:
            db_session.remove()


def authorize_path(client_id: str, redirect_uri: str = RP_REDIRECT) -> str:
    challenge = base64.urlsafe_b64encode(hashlib.sha256(b"v" * 50).digest()).rstrip(b"=")
    return "/oauth/authorize?" + urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "scope": "openid profile email",
            "state": "s",
            "nonce": "n",
            "code_challenge": challenge.decode(),
            "code_challenge_method": "S256",
        }
    )


@visit("oauth.authorize", "consent")
def _consent(page: Page, site: Site) -> Response:
    client_id = relying_party(site)
    site.signed_in(site.resident())
    return _goto(page, authorize_path(client_id))


@visit("oauth.authorize", "consent, expired page", status=400, errors="form")
def _consent_expired(page: Page, site: Site) -> Response:
    _consent(page, site)
    _expire_csrf(page)
    return site.submit("Allow")


@visit("oauth.authorize", "unregistered redirect address", status=400)
def _authorize_bad_redirect(page: Page, site: Site) -> Response:
    client_id = relying_party(site)
    return _goto(page, authorize_path(client_id, "https://attacker.example/steal"))


@visit("oauth.logout", "confirm")
def _logout_confirm(page: Page, site: Site) -> Response:
    site.signed_in(site.resident())
    return _goto(page, "/oauth/logout")


@visit("oauth.logout", "confirm, someone else's ID token")
def _logout_other_hint(page: Page, site: Site) -> Response:
    client_id = relying_party(site)
    hint = someone_elses_id_token(site, client_id)
    site.signed_in(site.resident())
    return _goto(page, "/oauth/logout?" + urlencode({"id_token_hint": hint}))


@visit("oauth.logout", "confirm, expired page", status=400, errors="form")
def _logout_expired(page: Page, site: Site) -> Response:
    _logout_confirm(page, site)
    _expire_csrf(page)
    return site.submit("Sign out")


@visit("connected_services.connected_services", "none yet")
def _connected_none(page: Page, site: Site) -> Response:
    site.signed_in(site.resident())
    return _goto(page, "/account/connected-services")


@visit("connected_services.connected_services", "one service")
def _connected_one(page: Page, site: Site) -> Response:
    page.route("https://leisure.example/**", lambda route: route.fulfill(body="RP"))
    _consent(page, site)
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url("https://leisure.example/**")
    return _goto(page, "/account/connected-services")


# Adding a service (issue 4) --------------------------------------------------------------

OLDER = {"date_of_birth": date(1948, 6, 2)}


def _sixth_former() -> dict[str, object]:
    from tests.services.conftest import sixth_former

    return {"date_of_birth": sixth_former()}


def _services_signed_in(page: Page, site: Site, **overrides: object) -> Someone:
    someone = site.resident(**overrides)
    site.signed_in(someone)
    return someone


def _send_bus_pass_request(page: Page, site: Site) -> Response:
    _services_signed_in(page, site, **OLDER)
    page.goto("/account/services/bus-pass-older/check")
    return site.submit("Send request")


@visit("accounts.services")
def _services(page: Page, site: Site) -> Response:
    _services_signed_in(page, site)
    return _goto(page, "/account/services")


@visit("accounts.services", "holding one, one waiting")
def _services_held(page: Page, site: Site) -> Response:
    _send_bus_pass_request(page, site)
    page.goto("/account/services/library/check")
    site.submit("Add this service")
    return _goto(page, "/account/services")


@visit("accounts.service_start", "facts reused")
def _service_start(page: Page, site: Site) -> Response:
    _services_signed_in(page, site, **OLDER)
    return _goto(page, "/account/services/bus-pass-older")


@visit("accounts.service_start", "a question to answer")
def _service_start_question(page: Page, site: Site) -> Response:
    _services_signed_in(page, site, **_sixth_former())
    return _goto(page, "/account/services/16-plus-travel-saver")


@visit("accounts.service_question")
def _service_question(page: Page, site: Site) -> Response:
    _services_signed_in(page, site, date_of_birth=date(1980, 1, 1))
    return _goto(page, "/account/services/bus-pass-disabled/question/disability")


@visit("accounts.service_question", "nothing chosen", status=400, errors="fields")
def _service_question_empty(page: Page, site: Site) -> Response:
    _service_question(page, site)
    return site.submit("Continue")


@visit("accounts.service_question", "none of these")
def _service_question_none(page: Page, site: Site) -> Response:
    _service_question(page, site)
    page.get_by_label("None of these").check()
    return site.submit("Continue")


@visit("accounts.service_check", "granted next")
def _service_check(page: Page, site: Site) -> Response:
    _services_signed_in(page, site)
    return _goto(page, "/account/services/library/check")


@visit("accounts.service_check", "evidence needed")
def _service_check_evidence(page: Page, site: Site) -> Response:
    _services_signed_in(page, site, **_sixth_former())
    page.goto("/account/services/16-plus-travel-saver/question/full_time_education")
    page.get_by_label("Yes").check()
    return site.submit("Continue")


@visit("accounts.service_check", "expired page", status=400, errors="form")
def _service_check_expired(page: Page, site: Site) -> Response:
    _service_check(page, site)
    _expire_csrf(page)
    return site.submit("Add this service")


@visit("accounts.service_outcome", "granted")
def _service_granted(page: Page, site: Site) -> Response:
    _service_check(page, site)
    return site.submit("Add this service")


@visit("accounts.service_outcome", "not eligible")
def _service_not_eligible(page: Page, site: Site) -> Response:
    _services_signed_in(page, site, date_of_birth=date(1990, 1, 1))
    page.goto("/account/services/bus-pass-older/check")
    return site.submit("Finish")


@visit("accounts.service_outcome", "waiting")
def _service_waiting(page: Page, site: Site) -> Response:
    return _send_bus_pass_request(page, site)


@visit("accounts.service_request", "waiting")
def _service_request(page: Page, site: Site) -> Response:
    _send_bus_pass_request(page, site)
    page.get_by_role("link", name="See or withdraw your request").click()
    return _goto(page, page.url)


@visit("accounts.service_request", "expired page", status=400, errors="form")
def _service_request_expired(page: Page, site: Site) -> Response:
    _service_request(page, site)
    _expire_csrf(page)
    return site.submit("Withdraw request")


# Offers: "You can now get ..." (issue 11) ------------------------------------------------


@visit("accounts.account", "offers: you can now get")
def _account_offers(page: Page, site: Site) -> Response:
    return site.sign_in(site.resident(**OLDER))  # past bus pass age: offered at registration


@visit("accounts.services", "offers: you can now get")
def _services_offers(page: Page, site: Site) -> Response:
    _services_signed_in(page, site, **OLDER)
    return _goto(page, "/account/services")


@visit("accounts.service_not_interested")
def _not_interested(page: Page, site: Site) -> Response:
    _services_offers(page, site)
    href = page.locator("#main-content form[action*='not-interested']").first.get_attribute(
        "action"
    )
    assert href is not None
    return _goto(page, href)


@visit("accounts.service_not_interested", "expired page", status=400, errors="form")
def _not_interested_expired(page: Page, site: Site) -> Response:
    _not_interested(page, site)
    _expire_csrf(page)
    return site.submit("Not interested")


@visit("accounts.services", "not interested: told for how long")
def _not_interested_done(page: Page, site: Site) -> Response:
    _services_offers(page, site)
    return site.submit(
        "Not interested in Older person's bus pass (English National Concessionary Travel Scheme)"
    )


# The staff console, life events and your data, possible duplicates and the partner API
# add their pages to VISITS.
from tests.browser import (  # noqa: E402
    duplicate_pages,  # noqa: F401
    life_event_pages,  # noqa: F401
    merge_pages,  # noqa: F401
    partner_pages,  # noqa: F401
    reader_pages,  # noqa: F401
    staff_pages,  # noqa: F401
)
