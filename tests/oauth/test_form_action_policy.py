"""The CSP ``form-action`` sources: this service, plus the origin of a redirect URI only
while its authorization request waits for this browser (idservice/oauth/form_targets.py).
Chromium's enforcement is tested in tests/browser/test_form_action.py."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient

from idservice.oauth.form_targets import origin_of
from tests.oauth.conftest import RP, authorize_params, csrf_from, get_code, pkce_pair


def form_action(response: object) -> str:
    policy = response.headers["Content-Security-Policy"]  # type: ignore[attr-defined]
    match = re.search(r"form-action ([^;]+)", policy)
    assert match, policy
    return match.group(1).strip()


def test_pages_allow_forms_to_post_only_here(client: FlaskClient) -> None:
    for path in ("/", "/sign-in", "/register"):
        assert form_action(client.get(path)) == "'self'", path


def test_a_waiting_authorization_request_adds_its_redirect_origin(
    app: Flask, client: FlaskClient, rp: RP
) -> None:
    params = authorize_params(rp, pkce_pair()[1])
    to_sign_in = client.get("/oauth/authorize", query_string=params)
    assert to_sign_in.status_code == 302
    page = client.get(to_sign_in.location)
    assert form_action(page) == "'self' https://library.example.org"
    # Any page of this browser, while the service waits (the code page, registration...).
    assert form_action(client.get("/register")) == "'self' https://library.example.org"
    # Another browser is not affected.
    assert form_action(app.test_client().get("/sign-in")) == "'self'"


def test_the_origin_goes_when_the_service_has_its_answer(
    app: Flask, signed_in: FlaskClient, rp: RP
) -> None:
    params = authorize_params(rp, pkce_pair()[1])
    consent = signed_in.get("/oauth/authorize", query_string=params)
    assert consent.status_code == 200
    assert form_action(consent) == "'self' https://library.example.org"
    done = signed_in.post(
        consent.request.full_path,
        data={"csrf_token": csrf_from(consent.get_data(as_text=True)), "decision": "allow"},
    )
    assert done.status_code == 302
    assert form_action(signed_in.get("/account")) == "'self'"
    # With consent remembered, the code is issued at once and nothing is added.
    get_code(signed_in, rp, pkce_pair()[1])
    assert form_action(signed_in.get("/account")) == "'self'"


def test_an_unregistered_redirect_uri_is_never_added(client: FlaskClient, rp: RP) -> None:
    params = authorize_params(rp, pkce_pair()[1])
    params["redirect_uri"] = "https://attacker.example/steal"
    assert client.get("/oauth/authorize", query_string=params).status_code == 400
    assert form_action(client.get("/sign-in")) == "'self'"


def test_origins_are_written_as_csp_sources() -> None:
    assert origin_of("https://Library.Example.org/callback?x=1") == "https://library.example.org"
    assert origin_of("http://127.0.0.1:8080/callback") == "http://127.0.0.1:8080"
    assert origin_of("http://[::1]:8080/cb") is None  # not expressible as a host-source
    assert origin_of("https://a.example;script-src *") is None
    assert origin_of("javascript:alert(1)") is None
