"""Interoperability with a certified relying party: the npm package openid-client.

Discovery, the authorization code flow with PKCE through the real sign-in and consent
pages in Chromium, ID token validation (signature included) and userinfo; then
client_credentials, introspection and revocation. The client is registered with the real
``kentcard clients create`` command.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, Route, expect

from idservice.config import Settings
from idservice.models.residents import Resident
from tests.browser.axe import assert_accessible
from tests.conftest import LiveServer
from tests.factories import DEFAULT_PASSWORD

JS_DIR = Path(__file__).resolve().parent.parent / "js"
RP_SCRIPT = JS_DIR / "rp.mjs"
REDIRECT_URI = "https://library.example/callback"


def node() -> str:
    path = shutil.which("node")
    if path is None or not (JS_DIR / "node_modules" / "openid-client").exists():
        pytest.fail("node and tests/js/node_modules are needed: run `make test`", pytrace=False)
    return path


def run_rp(step: str, payload: dict[str, Any]) -> dict[str, Any]:
    result = subprocess.run(
        [node(), str(RP_SCRIPT), step],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = json.loads(result.stdout or "{}")
    assert result.returncode == 0, f"openid-client {step} failed: {output} {result.stderr}"
    return output  # type: ignore[no-any-return]


def kentcard(settings: Settings, *args: str) -> dict[str, Any]:
    env = dict(os.environ)
    env.update(
        KENTCARD_DATABASE_URL=settings.database_url,
        KENTCARD_SECRET_KEY=settings.secret_key,
        KENTCARD_INSTANCE_PATH=str(settings.instance_path),
        KENTCARD_ISSUER=settings.issuer,
    )
    result = subprocess.run(
        [sys.executable, "-m", "idservice.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


@pytest.mark.interop
@pytest.mark.browser
def test_authorization_code_flow_with_pkce_through_the_real_pages(
    page: Page,
    live_server: LiveServer,
    resident_factory: Callable[..., Resident],
) -> None:
    resident = resident_factory()
    registered = kentcard(
        live_server.settings,
        "clients", "create", "--name", "Kent Libraries", "--redirect-uri", REDIRECT_URI,
        "--grant", "authorization_code", "--scope", "openid profile email", "--json",
    )  # fmt: skip
    rp = {
        "issuer": live_server.url,
        "client_id": registered["client_id"],
        "client_secret": registered["client_secret"],
        "redirect_uri": REDIRECT_URI,
        "scope": "openid profile email",
    }
    started = run_rp("start", rp)
    assert started["server"]["issuer"] == live_server.url
    assert started["server"]["authorization_response_iss_parameter_supported"] is True

    captured: list[str] = []

    def capture(route: Route) -> None:
        captured.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<title>RP</title>back at RP")

    page.route("https://library.example/**", capture)
    page.goto(started["url"])
    expect(page.locator("h1")).to_have_text("Sign in to your Kent account")
    page.get_by_label("Email address").fill(str(resident.email))
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.locator("h1")).to_contain_text("Kent Libraries")
    assert_accessible(page, label="consent page")
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url("https://library.example/**")
    assert captured, "the provider never redirected back to the relying party"

    finished = run_rp(
        "finish",
        {
            **rp,
            "callback_url": captured[-1],
            **{k: started[k] for k in ("code_verifier", "state", "nonce")},
        },
    )
    claims = finished["claims"]
    assert finished["id_token_header"]["alg"] == "ES256"
    assert claims["iss"] == live_server.url
    assert claims["aud"] == registered["client_id"]
    assert claims["sub"] != resident.id, "relying parties get a pairwise subject, not our id"
    assert claims["acr"] == "urn:kentcard:acr:password"
    assert claims["amr"] == ["pwd"]
    assert "birthdate" not in claims and "birthdate" not in finished["userinfo"]
    assert finished["userinfo"]["sub"] == claims["sub"]
    assert finished["userinfo"]["email"] == resident.email
    assert finished["userinfo"]["email_verified"] is True
    assert finished["userinfo"]["given_name"] == resident.given_name
    assert finished["userinfo"]["family_name"] == resident.family_name


@pytest.mark.interop
def test_client_credentials_then_introspection_and_revocation(live_server: LiveServer) -> None:
    registered = kentcard(
        live_server.settings,
        "clients", "create", "--name", "Bus operator", "--redirect-uri", "https://bus.example/cb",
        "--grant", "client_credentials", "--scope", "entitlements:read", "--json",
    )  # fmt: skip
    result = run_rp(
        "service",
        {
            "issuer": live_server.url,
            "client_id": registered["client_id"],
            "client_secret": registered["client_secret"],
            "scope": "entitlements:read",
        },
    )
    assert result["token_type"].lower() == "bearer"
    assert result["access_token_header"]["typ"] == "at+jwt"
    assert result["access_token_header"]["alg"] == "ES256"
    introspection = result["introspection"]
    assert introspection["active"] is True
    assert introspection["client_id"] == registered["client_id"]
    assert introspection["scope"] == "entitlements:read"
    assert result["after_revocation"]["active"] is False
