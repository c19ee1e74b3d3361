"""Passkeys: add one from the security page, sign in with it, step up with it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from idservice.db import db_session
from idservice.models import AuditRecord, PasskeyCredential, Resident, ResidentSession
from tests.accounts.conftest import csrf_from, in_app, text
from tests.accounts.webauthn_device import SoftPasskey
from tests.factories import sign_in_client


@pytest.fixture
def device(app: Flask) -> SoftPasskey:
    settings = app.config["KENTCARD"]
    return SoftPasskey(settings.webauthn_rp_id, settings.webauthn_origin)


def _json(client: FlaskClient, url: str, token: str, body: Any = None) -> Any:
    return client.post(url, json=body or {}, headers={"X-CSRF-Token": token})


def add_passkey(client: FlaskClient, device: SoftPasskey) -> Any:
    token = csrf_from(client.get("/account/security"))
    options = _json(client, "/account/security/passkeys/options", token).get_json()
    return _json(client, "/account/security/passkeys/verify", token, device.create(options))


def _passkeys(app: Flask) -> list[PasskeyCredential]:
    with in_app(app):
        rows = list(db_session.scalars(select(PasskeyCredential)))
        db_session.expunge_all()
        return rows


@pytest.fixture
def with_passkey(
    app: Flask, make_resident: Callable[..., Resident], device: SoftPasskey
) -> Resident:
    resident = make_resident()
    browser = app.test_client()
    sign_in_client(app, browser, resident)
    response = add_passkey(browser, device)
    assert response.status_code == 200, response.get_json()
    return resident


def test_security_page_offers_passkeys_only_with_javascript(
    app: Flask, client: FlaskClient, make_resident: Callable[..., Resident]
) -> None:
    sign_in_client(app, client, make_resident())
    html = text(client.get("/account/security"))
    assert "data-passkey hidden" in html  # shown by passkeys.js
    assert "with JavaScript turned on" in html


def test_adding_a_passkey(
    app: Flask, client: FlaskClient, make_resident: Callable[..., Resident], device: SoftPasskey
) -> None:
    resident = make_resident()
    sign_in_client(app, client, resident)
    token = csrf_from(client.get("/account/security"))
    options = _json(client, "/account/security/passkeys/options", token).get_json()
    assert options["rp"]["id"] == "localhost"
    assert options["authenticatorSelection"]["userVerification"] == "required"
    response = _json(client, "/account/security/passkeys/verify", token, device.create(options))
    assert response.get_json() == {"redirect": "/account/security"}
    [stored] = _passkeys(app)
    assert stored.resident_id == resident.id
    assert stored.credential_id == device.credential_id
    assert stored.transports == ["internal", "hybrid"]
    assert "Your passkey has been added" in text(client.get("/account/security"))
    with in_app(app):
        actions = list(db_session.scalars(select(AuditRecord.action)))
    assert "passkey.added" in actions


def test_adding_a_passkey_needs_the_csrf_header(
    app: Flask, client: FlaskClient, make_resident: Callable[..., Resident]
) -> None:
    sign_in_client(app, client, make_resident())
    response = client.post("/account/security/passkeys/options", json={})
    assert response.status_code == 400
    assert "expired" in response.get_json()["error"]


def test_passkey_from_another_site_is_refused(
    app: Flask, client: FlaskClient, make_resident: Callable[..., Resident], device: SoftPasskey
) -> None:
    sign_in_client(app, client, make_resident())
    token = csrf_from(client.get("/account/security"))
    options = _json(client, "/account/security/passkeys/options", token).get_json()
    credential = device.create(options, origin="https://evil.example")
    response = _json(client, "/account/security/passkeys/verify", token, credential)
    assert response.status_code == 400
    assert _passkeys(app) == []


def test_sign_in_with_a_passkey(
    app: Flask, client: FlaskClient, with_passkey: Resident, device: SoftPasskey
) -> None:
    token = csrf_from(client.get("/sign-in"))
    options = _json(client, "/sign-in/passkey/options", token).get_json()
    assert options["allowCredentials"] == []
    assert options["userVerification"] == "required"
    response = _json(
        client, "/sign-in/passkey/verify?next=/account/activity", token, device.get(options)
    )
    assert response.get_json() == {"redirect": "/account/activity"}
    assert client.get("/account").status_code == 200
    with in_app(app):
        record = db_session.scalar(
            select(ResidentSession)
            .where(ResidentSession.ended_at.is_(None))
            .order_by(ResidentSession.created_at.desc())
        )
        assert record is not None
        assert record.amr == ["hwk", "user"]
        assert record.acr == "urn:kentcard:acr:mfa"
    assert _passkeys(app)[0].sign_count == 1


def test_a_passkey_response_cannot_be_replayed(
    client: FlaskClient, with_passkey: Resident, device: SoftPasskey
) -> None:
    token = csrf_from(client.get("/sign-in"))
    options = _json(client, "/sign-in/passkey/options", token).get_json()
    assertion = device.get(options)
    assert _json(client, "/sign-in/passkey/verify", token, assertion).status_code == 200
    client.post("/sign-out", data={"csrf_token": csrf_from(client.get("/account"))})
    again = _json(client, "/sign-in/passkey/verify", csrf_from(client.get("/sign-in")), assertion)
    assert again.status_code == 400
    assert client.get("/account").status_code == 302


def test_passkey_without_user_verification_is_refused(
    client: FlaskClient, with_passkey: Resident, device: SoftPasskey
) -> None:
    token = csrf_from(client.get("/sign-in"))
    options = _json(client, "/sign-in/passkey/options", token).get_json()
    response = _json(client, "/sign-in/passkey/verify", token, device.get(options, verified=False))
    assert response.status_code == 400
    assert client.get("/account").status_code == 302


def test_unknown_passkey_is_refused(client: FlaskClient, app: Flask) -> None:
    stranger = SoftPasskey("localhost", app.config["KENTCARD"].webauthn_origin)
    token = csrf_from(client.get("/sign-in"))
    options = _json(client, "/sign-in/passkey/options", token).get_json()
    response = _json(client, "/sign-in/passkey/verify", token, stranger.get(options))
    assert response.status_code == 400
    assert "not registered" in response.get_json()["error"]


def test_closed_account_cannot_use_its_passkey(
    app: Flask, client: FlaskClient, with_passkey: Resident, device: SoftPasskey
) -> None:
    with in_app(app):
        resident = db_session.get(Resident, with_passkey.id)
        assert resident is not None
        resident.status = "closed"
        db_session.commit()
    token = csrf_from(client.get("/sign-in"))
    options = _json(client, "/sign-in/passkey/options", token).get_json()
    assert _json(client, "/sign-in/passkey/verify", token, device.get(options)).status_code == 400


def test_step_up_with_a_passkey(
    app: Flask, client: FlaskClient, with_passkey: Resident, device: SoftPasskey
) -> None:
    record = sign_in_client(app, client, with_passkey)
    page = client.get("/sign-in/step-up?next=/account/security&acr=urn:kentcard:acr:mfa")
    assert page.status_code == 200
    token = csrf_from(page)
    options = _json(client, "/sign-in/step-up/passkey/options", token).get_json()
    assert len(options["allowCredentials"]) == 1
    response = _json(
        client, "/sign-in/step-up/passkey/verify?next=/account/security", token, device.get(options)
    )
    assert response.get_json() == {"redirect": "/account/security"}
    with in_app(app):
        stored = db_session.get(ResidentSession, record.id)
        assert stored is not None
        assert stored.acr == "urn:kentcard:acr:mfa"
        assert set(stored.amr) == {"pwd", "hwk", "user"}


def test_removing_a_passkey(app: Flask, client: FlaskClient, with_passkey: Resident) -> None:
    sign_in_client(app, client, with_passkey)
    [stored] = _passkeys(app)
    url = f"/account/security/passkeys/{stored.id}/remove"
    assert client.post(url, data={"csrf_token": "forged"}).status_code == 400
    assert len(_passkeys(app)) == 1
    token = csrf_from(client.get(url))
    assert client.post(url, data={"csrf_token": token}).status_code == 302
    assert _passkeys(app) == []


def test_cannot_remove_someone_elses_passkey(
    app: Flask, client: FlaskClient, with_passkey: Resident, make_resident: Callable[..., Resident]
) -> None:
    sign_in_client(app, client, make_resident())
    [stored] = _passkeys(app)
    url = f"/account/security/passkeys/{stored.id}/remove"
    client.post(url, data={"csrf_token": csrf_from(client.get(url))})
    assert len(_passkeys(app)) == 1
