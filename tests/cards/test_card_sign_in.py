"""Card + PIN sign-in at a kiosk: browser pages, the reader's API, OIDC step-up."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select, update

from cardio.errors import PinNotVerifiedError
from cardio.session import KentCardSession
from cardio.signin import sign_with_card
from hardware.virtual_card import InProcessConnection, VirtualKentCard
from idservice.auth.levels import ACR_CARD_PIN, AMR_CARD_PIN, AMR_PASSWORD
from idservice.cards import issuance
from idservice.db import db_session
from idservice.models import AuditRecord, CardSignIn, Resident, ResidentSession
from idservice.models.base import utcnow
from tests.accounts.conftest import csrf_from, in_app, text
from tests.cards.conftest import PIN
from tests.cards.test_issuance import issue_one
from tests.factories import sign_in_client
from tests.oauth.conftest import RP, authorize_params, exchange, jwks_of, make_rp, pkce_pair

CODE = re.compile(r'id="sign-in-code"><strong class="kc-code">([A-Z0-9-]+)<')


@pytest.fixture
def kiosk(app: Flask) -> RP:
    return make_rp(
        app,
        name="Maidstone library kiosk 3",
        redirect_uris=[],
        grant_types=["client_credentials"],
        scope="card-sign-in:write",
    )


@pytest.fixture
def issued(app: Flask, blank_card, resident_and_actor) -> tuple[str, VirtualKentCard, Any]:
    resident_id, actor = resident_and_actor
    card = blank_card()
    row = issue_one(app, actor, resident_id, card)
    return resident_id, card, row


class Reader:
    """The kiosk's reader device talking to the API with its own token."""

    def __init__(self, app: Flask, rp: RP, scope: str = "card-sign-in:write") -> None:
        self.http = app.test_client()
        response = self.http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", "scope": scope},
            headers=rp.basic,
        )
        assert response.status_code == 200, response.get_json()
        self.headers = {"Authorization": f"Bearer {response.get_json()['access_token']}"}

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self.http.post(f"/api/v1/card-sign-in/{path}", json=body, headers=self.headers)

    def challenge(self, code: str) -> bytes:
        response = self.post("challenge", {"code": code})
        assert response.status_code == 200, response.get_json()
        return bytes.fromhex(response.get_json()["challenge"])

    def sign_in(self, code: str, card: VirtualKentCard, pin: str = PIN) -> Any:
        evidence = sign_with_card(InProcessConnection(card), pin, self.challenge(code))
        return self.answer(code, evidence.select_answer, evidence.signature)

    def answer(self, code: str, select_answer: bytes, signature: bytes) -> Any:
        body = {"code": code, "select_answer": select_answer.hex(), "signature": signature.hex()}
        return self.post("answer", body)


def start(client: FlaskClient, next_url: str | None = None) -> str:
    """The resident starts a card sign-in on the kiosk's browser; returns the code shown."""
    query = {"next": next_url} if next_url else {}
    page = client.get("/sign-in/card", query_string=query)
    assert page.status_code == 200
    response = client.post(
        page.request.full_path, data={"csrf_token": csrf_from(page)}, follow_redirects=False
    )
    assert response.status_code == 302 and response.location.endswith("/sign-in/card/wait")
    waiting = client.get("/sign-in/card/wait")
    assert waiting.status_code == 200
    match = CODE.search(text(waiting))
    assert match, text(waiting)
    return match.group(1)


def continue_(client: FlaskClient) -> Any:
    page = client.get("/sign-in/card/wait")
    if page.status_code != 200:
        return page
    return client.post("/sign-in/card/wait", data={"csrf_token": csrf_from(page)})


def session_of(app: Flask, client: FlaskClient) -> ResidentSession | None:
    with client.session_transaction() as cookie:
        sid = cookie.get("sid")
    with in_app(app):
        return db_session.get(ResidentSession, sid) if sid else None


def audit_actions(app: Flask, resident_id: str) -> list[tuple[str, dict[str, Any]]]:
    with in_app(app):
        rows = db_session.scalars(
            select(AuditRecord)
            .where(AuditRecord.resident_id == resident_id)
            .order_by(AuditRecord.at)
        )
        return [(r.action, dict(r.details)) for r in rows]


def test_card_and_pin_sign_the_kiosk_browser_in(
    app: Flask, client: FlaskClient, kiosk: RP, issued
) -> None:
    resident_id, card, row = issued
    code = start(client, "/account/activity")
    accepted = Reader(app, kiosk).sign_in(code, card)
    assert accepted.status_code == 200, accepted.get_json()
    assert accepted.get_json() == {"message": "Card and PIN accepted: continue on the screen"}
    response = continue_(client)
    assert response.status_code == 302 and response.location == "/account/activity"
    record = session_of(app, client)
    assert record is not None and record.resident_id == resident_id
    assert record.acr == ACR_CARD_PIN and record.amr == ["sc", "pin"] == AMR_CARD_PIN
    signed_in = [d for a, d in audit_actions(app, resident_id) if a == "sign_in.succeeded"]
    assert signed_in == [
        {"method": "Kent Card and PIN", "card_id": row.id, "reader": kiosk.client_id}
    ]
    page = text(client.get("/account/activity"))
    assert "Signed in with your Kent Card" in page


def test_the_challenge_is_used_once(app: Flask, client: FlaskClient, kiosk: RP, issued) -> None:
    _, card, _ = issued
    code = start(client)
    reader = Reader(app, kiosk)
    challenge = reader.challenge(code)
    evidence = sign_with_card(InProcessConnection(card), PIN, challenge)
    assert reader.answer(code, evidence.select_answer, evidence.signature).status_code == 200
    replay = reader.answer(code, evidence.select_answer, evidence.signature)
    assert replay.status_code == 409 and replay.get_json()["error"] == "used"
    assert continue_(client).status_code == 302
    # The recorded answer is worthless against a new challenge on another browser.
    other = app.test_client()
    new_code = start(other)
    reader.challenge(new_code)
    refused = reader.answer(new_code, evidence.select_answer, evidence.signature)
    assert (
        refused.status_code == 403
        and "could not prove it is genuine" in refused.get_json()["message"]
    )
    assert "could not prove it is genuine" in text(continue_(other))
    assert session_of(app, other) is None


def test_a_tap_signature_is_never_a_sign_in(app: Flask, client: FlaskClient, kiosk: RP, issued):
    _, card, _ = issued
    code = start(client)
    reader = Reader(app, kiosk)
    challenge = reader.challenge(code)
    session = KentCardSession(InProcessConnection(card))
    with pytest.raises(PinNotVerifiedError) as refused:  # no VERIFY: the card will not sign
        session.sign_in_authenticate(challenge)
    assert refused.value.sw == 0x6982
    tap_signature = session.internal_authenticate(challenge)  # no PIN needed for a tap
    response = reader.answer(code, session.info.raw, tap_signature)
    assert response.status_code == 403 and response.get_json()["error"] == "card_refused"
    assert session_of(app, client) is None


def test_wrong_pin_names_the_tries_left_then_the_right_pin_signs_in(
    app: Flask, client: FlaskClient, kiosk: RP, issued
) -> None:
    _, card, _ = issued
    code = start(client)
    reader = Reader(app, kiosk)
    reader.challenge(code)
    report = reader.post("report", {"code": code, "error": "wrong_pin", "sw": "63C2"})
    assert report.status_code == 200
    page = text(client.get("/sign-in/card/wait"))
    assert "The PIN was not right: 2 tries left" in page and code in page
    assert reader.sign_in(code, card).status_code == 200
    assert continue_(client).status_code == 302


def test_a_blocked_pin_ends_the_sign_in_and_says_where_to_unblock(
    app: Flask, client: FlaskClient, kiosk: RP, issued
) -> None:
    code = start(client)
    reader = Reader(app, kiosk)
    reader.challenge(code)
    report = reader.post("report", {"code": code, "error": "pin_blocked", "sw": "6983"})
    assert report.status_code == 200
    response = client.get("/sign-in/card/wait")
    assert response.status_code == 400
    assert "Your PIN is blocked (card status 6983): go to a Gateway or library to unblock it" in (
        text(response)
    )
    again = reader.post("challenge", {"code": code})
    assert again.status_code == 409


def test_a_lost_card_is_refused(
    app: Flask, client: FlaskClient, kiosk: RP, issued, resident_and_actor
) -> None:
    resident_id, card, row = issued
    with in_app(app):
        issuance.report_card(resident_and_actor[1], row.id, "lost")
    code = start(client)
    response = Reader(app, kiosk).sign_in(code, card)
    assert response.status_code == 403
    assert response.get_json() == {
        "error": "card_refused",
        "message": "This card was reported lost, so it cannot be used to sign in",
    }
    page = continue_(client)
    assert page.status_code == 400 and "reported lost" in text(page)
    assert session_of(app, client) is None
    failed = [d for a, d in audit_actions(app, resident_id) if a == "sign_in.failed"]
    assert failed == [{"method": "Kent Card and PIN", "card_id": row.id}]


def test_an_expired_challenge_is_refused(
    app: Flask, client: FlaskClient, kiosk: RP, issued
) -> None:
    _, card, _ = issued
    code = start(client)
    reader = Reader(app, kiosk)
    challenge = reader.challenge(code)
    evidence = sign_with_card(InProcessConnection(card), PIN, challenge)
    with in_app(app):
        db_session.execute(update(CardSignIn).values(expires_at=utcnow() - timedelta(seconds=1)))
        db_session.commit()
    late = reader.answer(code, evidence.select_answer, evidence.signature)
    assert late.status_code == 410 and late.get_json()["error"] == "expired"
    page = continue_(client)
    assert page.status_code == 400 and "Your card sign-in timed out" in text(page)
    assert session_of(app, client) is None


def test_only_a_sign_in_reader_with_the_code_may_answer(
    app: Flask, client: FlaskClient, kiosk: RP, issued
) -> None:
    _, card, _ = issued
    code = start(client)
    unknown = Reader(app, kiosk).post("challenge", {"code": "AAAA-AAAA"})
    assert unknown.status_code == 404 and unknown.get_json()["error"] == "unknown_code"
    bus = make_rp(
        app, name="Bus", redirect_uris=[], grant_types=["client_credentials"], scope="taps:write"
    )
    wrong_scope = Reader(app, bus, scope="taps:write").post("challenge", {"code": code})
    assert wrong_scope.status_code == 403
    assert wrong_scope.get_json()["error"] == "insufficient_scope"
    no_token = app.test_client().post("/api/v1/card-sign-in/challenge", json={"code": code})
    assert no_token.status_code == 401
    first = Reader(app, kiosk)
    first.challenge(code)
    other_kiosk = make_rp(
        app,
        name="Kiosk 4",
        redirect_uris=[],
        grant_types=["client_credentials"],
        scope="card-sign-in:write",
    )
    stolen = Reader(app, other_kiosk).sign_in
    with pytest.raises(AssertionError):
        stolen(code, card)
    bad = first.post("answer", {"code": code, "select_answer": "zz", "signature": "00"})
    assert bad.status_code == 400 and bad.get_json()["error"] == "invalid_request"
    assert first.sign_in(code, card).status_code == 200


def test_the_reader_api_refusals_are_never_cached(
    app: Flask, client: FlaskClient, kiosk: RP
) -> None:
    code = start(client)
    reader = Reader(app, kiosk)
    refusals = {
        401: app.test_client().post("/api/v1/card-sign-in/challenge", json={"code": code}),
        400: reader.post("challenge", {}),
        404: reader.post("challenge", {"code": "AAAA-AAAA"}),
        409: reader.answer(code, b"\x00", b"\x00"),  # no challenge fetched yet
    }
    for status, response in refusals.items():
        assert response.status_code == status, response.get_json()
        assert response.headers["Cache-Control"] == "no-store", status
        assert set(response.get_json()) == {"error", "message"}
    assert refusals[409].get_json()["error"] == "no_challenge"


def test_the_browser_that_started_is_the_one_signed_in(
    app: Flask, client: FlaskClient, kiosk: RP, issued
) -> None:
    _, card, _ = issued
    code = start(client)
    Reader(app, kiosk).sign_in(code, card)
    stranger = app.test_client()
    response = stranger.get("/sign-in/card/wait")
    assert response.status_code == 302 and response.location.endswith("/sign-in/card")
    assert session_of(app, stranger) is None
    assert continue_(client).status_code == 302


def test_oidc_step_up_to_card_and_pin_through_the_authorization_endpoint(
    app: Flask, client: FlaskClient, kiosk: RP, issued
) -> None:
    """A service asks for the card level; a password session steps up at the kiosk."""
    resident_id, card, _ = issued
    rp = make_rp(app)
    with in_app(app):
        resident = db_session.get(Resident, resident_id)
    sign_in_client(app, client, resident, AMR_PASSWORD)
    verifier, challenge = pkce_pair()
    params = authorize_params(rp, challenge, acr_values=ACR_CARD_PIN)
    response = client.get("/oauth/authorize", query_string=params)
    location = urlsplit(response.location)
    assert location.path == "/sign-in/step-up"
    assert parse_qs(location.query)["acr"] == [ACR_CARD_PIN]
    step_up = client.get(response.location)
    assert step_up.status_code == 200
    assert "needs you to sign in with your Kent Card and its PIN" in text(step_up)
    next_url = parse_qs(location.query)["next"][0]
    code = start(client, next_url)
    assert Reader(app, kiosk).sign_in(code, card).status_code == 200
    back = continue_(client)
    assert back.status_code == 302 and back.location == next_url
    consent = client.get(back.location)
    assert consent.status_code == 200  # first use of this service: consent
    answer = client.post(
        consent.request.full_path, data={"csrf_token": csrf_from(consent), "decision": "allow"}
    )
    assert answer.status_code == 302 and answer.location.startswith(rp.redirect_uri)
    auth_code = parse_qs(urlsplit(answer.location).query)["code"][0]
    body = exchange(client, rp, auth_code, verifier).get_json()
    keys = KeySet.import_key_set(jwks_of(client))
    claims = jwt.decode(body["id_token"], keys, algorithms=["ES256"]).claims
    assert claims["acr"] == ACR_CARD_PIN
    assert claims["amr"] == ["sc", "pin"]


def test_an_expired_page_is_refused_without_signing_in(
    app: Flask, client: FlaskClient, kiosk: RP, issued
) -> None:
    _, card, _ = issued
    code = start(client)
    Reader(app, kiosk).sign_in(code, card)
    response = client.post("/sign-in/card/wait", data={"csrf_token": "expired"})
    assert response.status_code == 400 and "kc-error-summary" in text(response)
    assert session_of(app, client) is None
    assert continue_(client).status_code == 302


def test_card_and_pin_again_confirms_it_is_you_for_a_sensitive_change(
    app: Flask, client: FlaskClient, kiosk: RP, issued
) -> None:
    """A resident signed in at a kiosk with card and PIN, who has come back after the
    re-authentication window, can confirm it is them with the card (or their password)."""
    resident_id, card, _ = issued
    code = start(client)
    Reader(app, kiosk).sign_in(code, card)
    continue_(client)
    record = session_of(app, client)
    assert record is not None
    with in_app(app):
        db_session.execute(
            update(ResidentSession)
            .where(ResidentSession.id == record.id)
            .values(auth_time=utcnow() - timedelta(minutes=20))
        )
        db_session.commit()
    asked = client.get("/account/change/email")
    assert asked.status_code == 302
    confirm = asked.location
    assert confirm == "/account/confirm-it-is-you?next=/account/change/email"
    page = text(client.get(confirm))
    assert 'href="/sign-in/card?next=/account/change/email"' in page
    code = start(client, "/account/change/email")
    Reader(app, kiosk).sign_in(code, card)
    response = continue_(client)
    assert response.status_code == 302 and response.location == "/account/change/email"
    assert client.get("/account/change/email").status_code == 200
    again = session_of(app, client)
    assert again is not None and again.resident_id == resident_id and again.amr == AMR_CARD_PIN


def test_every_refusal_of_the_sign_in_service_has_its_api_error() -> None:
    """The service says ``ReaderResult(status, code, ...)``; the API answers the error
    class for the code, which must carry the same status."""
    import ast
    import inspect

    from idservice.cards.signin_api import REFUSALS
    from idservice.services import card_signin

    said = {
        (call.args[1].value, call.args[0].value)
        for call in ast.walk(ast.parse(inspect.getsource(card_signin)))
        if isinstance(call, ast.Call)
        and getattr(call.func, "id", None) == "ReaderResult"
        and all(isinstance(arg, ast.Constant) for arg in call.args[:2])
        and call.args[1].value
    }
    assert len(said) >= 8
    assert said == {(code, cls.status) for code, cls in REFUSALS.items()}
