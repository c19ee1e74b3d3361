"""Partner checks: the answer, scope isolation, pairwise isolation and consent."""

from __future__ import annotations

import base64
import json
import secrets
from datetime import date, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from entitlements.ledger.events import EventKind
from idservice.db import db_session
from idservice.models import PartnerQuery
from idservice.models.cards import CARD_HOTLISTED, CARD_REPLACED
from tests.accounts.conftest import in_app
from tests.partner_api.conftest import (
    BUS_PASS,
    LIBRARY,
    UNKNOWN_CARD,
    Partner,
    active_card,
    check_card,
    check_subject,
    grant,
    make_partner,
    new_resident,
    resident_tokens,
    service_token,
)


def claims_of(jwt: str) -> dict[str, Any]:
    part = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))  # type: ignore[no-any-return]


def query_count(app: Flask) -> int:
    with in_app(app):
        return int(db_session.scalar(select(func.count()).select_from(PartnerQuery)) or 0)


def test_a_check_says_yes_until_when_and_why_and_nothing_more(
    app: Flask, client: FlaskClient, library_partner: Partner
) -> None:
    resident = new_resident(app)
    grant(app, resident, "library", valid_until=date(2099, 1, 1))
    number = active_card(app, resident)
    response = check_card(
        client, service_token(client, library_partner.rp, LIBRARY), "library", number
    )
    assert response.status_code == 200
    assert response.get_json() == {
        "service": "library",
        "entitled": True,
        "valid_until": "2099-01-01",
        "reason": "entitled",
    }
    assert response.headers["Cache-Control"] == "no-store"


def _ledger(app: Flask, resident: str, service: str, *kinds: EventKind, **dates: Any) -> None:
    grant(app, resident, service, **dates)
    for kind in kinds:
        grant(app, resident, service, kind=kind)


TODAY = date.today()


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        (lambda app, r: None, "not_entitled"),
        (lambda app, r: _ledger(app, r, "library", EventKind.SUSPEND), "suspended"),
        (lambda app, r: _ledger(app, r, "library", EventKind.REVOKE), "not_entitled"),
        (lambda app, r: _ledger(app, r, "library", EventKind.EXPIRE), "expired"),
        (
            lambda app, r: _ledger(app, r, "library", valid_until=TODAY - timedelta(days=1)),
            "expired",
        ),
        (
            lambda app, r: _ledger(app, r, "library", valid_from=TODAY + timedelta(days=3)),
            "not_yet_valid",
        ),
        (lambda app, r: _ledger(app, r, "bus-pass-older"), "not_entitled"),
    ],
)
def test_reason_codes_for_a_resident_without_a_current_entitlement(
    app: Flask, client: FlaskClient, library_partner: Partner, setup: Any, reason: str
) -> None:
    resident = new_resident(app)
    setup(app, resident)
    number = active_card(app, resident)
    headers = service_token(client, library_partner.rp, LIBRARY)
    body = check_card(client, headers, "library", number).get_json()
    assert body == {"service": "library", "entitled": False, "valid_until": None, "reason": reason}


@pytest.mark.parametrize(
    "card",
    [
        {"status": CARD_HOTLISTED, "hotlist_reason": "stolen"},
        {"status": CARD_REPLACED},
        {"expiry": TODAY - timedelta(days=1)},
    ],
)
def test_a_card_that_is_not_valid_is_never_entitled(
    app: Flask, client: FlaskClient, library_partner: Partner, card: dict[str, Any]
) -> None:
    resident = new_resident(app)
    grant(app, resident, "library")
    number = active_card(app, resident, **card)
    headers = service_token(client, library_partner.rp, LIBRARY)
    body = check_card(client, headers, "library", number).get_json()
    assert (body["entitled"], body["reason"]) == (False, "card_not_valid")


def test_unknown_card_numbers_are_unknown(
    app: Flask, client: FlaskClient, library_partner: Partner
) -> None:
    headers = service_token(client, library_partner.rp, LIBRARY)
    unknown = {"service": "library", "entitled": False, "valid_until": None, "reason": "unknown"}
    assert check_card(client, headers, "library", UNKNOWN_CARD).get_json() == unknown
    # A wrong check digit is on no card at all.
    assert check_card(client, headers, "library", "9826019999999992").get_json() == unknown
    assert query_count(app) == 2


def test_a_library_partner_cannot_learn_bus_pass_status(
    app: Flask, client: FlaskClient, library_partner: Partner
) -> None:
    holder, other = new_resident(app), new_resident(app)
    grant(app, holder, "bus-pass-older")
    grant(app, holder, "library")
    holder_card, other_card = active_card(app, holder), active_card(app, other)
    headers = service_token(client, library_partner.rp, LIBRARY)
    answers = []
    for number in (holder_card, other_card, UNKNOWN_CARD):
        response = check_card(client, headers, "bus-pass-older", number)
        answers.append((response.status_code, response.get_json(), dict(response.headers)))
    # The same refusal whether the card's holder has a bus pass, has none, or is nobody.
    assert all(a[0] == 403 for a in answers)
    assert answers[0][1] == answers[1][1] == answers[2][1]
    assert answers[0][1]["error"] == "insufficient_scope"
    assert answers[0][2]["WWW-Authenticate"] == (
        f'Bearer error="insufficient_scope", scope="{BUS_PASS}"'
    )
    assert query_count(app) == 0  # refused before anyone was looked up
    # Nor can the partner get a token for bus pass checks.
    refused = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": BUS_PASS},
        headers=library_partner.rp.basic,
    )
    assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_scope"
    # Its library check on the same card still works.
    assert check_card(client, headers, "library", holder_card).get_json()["entitled"] is True


def test_a_token_scoped_to_one_service_cannot_check_another(
    app: Flask, client: FlaskClient
) -> None:
    both = make_partner(app, "Gateway kiosk", f"{LIBRARY} {BUS_PASS}", "kiosk.example")
    resident = new_resident(app)
    grant(app, resident, "bus-pass-older")
    number = active_card(app, resident)
    narrow = service_token(client, both.rp, LIBRARY)  # least privilege: only what it needs
    assert check_card(client, narrow, "bus-pass-older", number).status_code == 403
    wide = service_token(client, both.rp, f"{LIBRARY} {BUS_PASS}")
    assert check_card(client, wide, "bus-pass-older", number).get_json()["entitled"] is True


def _signed_in_subject(app: Flask, client: FlaskClient, resident: str, partner: Partner) -> str:
    from idservice.models.residents import Resident

    with in_app(app):
        person = db_session.get(Resident, resident)
        assert person is not None
        tokens = resident_tokens(app, client, person, partner.rp, "openid")
    client.delete_cookie("session")
    return str(claims_of(tokens["id_token"])["sub"])


def test_partner_a_cannot_use_partner_b_pairwise_ids(
    app: Flask, client: FlaskClient, leisure_partner: Partner
) -> None:
    other = make_partner(
        app,
        "Swale Leisure",
        f"openid {LIBRARY}",
        "swale-leisure.example",
        redirect_uris=["https://swale-leisure.example/callback"],
        grant_types=["authorization_code", "client_credentials"],
    )
    resident = new_resident(app)
    grant(app, resident, "library")
    sub_a = _signed_in_subject(app, client, resident, leisure_partner)
    sub_b = _signed_in_subject(app, client, resident, other)
    assert sub_a != sub_b
    token_a = service_token(client, leisure_partner.rp, LIBRARY)
    token_b = service_token(client, other.rp, LIBRARY)
    # Each partner finds the resident by its own subject...
    assert check_subject(client, token_a, "library", sub_a).get_json()["entitled"] is True
    assert check_subject(client, token_b, "library", sub_b).get_json()["entitled"] is True
    # ...but B's subject with A's token is unknown, exactly as a made-up one is.
    with_b = check_subject(client, token_a, "library", sub_b)
    made_up = check_subject(client, token_a, "library", secrets.token_urlsafe(32)[:43])
    assert with_b.status_code == made_up.status_code == 200
    assert (
        with_b.get_json()
        == made_up.get_json()
        == {
            "service": "library",
            "entitled": False,
            "valid_until": None,
            "reason": "unknown",
        }
    )
    assert check_subject(client, token_b, "library", sub_a).get_json()["reason"] == "unknown"


def test_consent_releases_the_name_and_subject_to_that_partner_only(
    app: Flask, client: FlaskClient, leisure_partner: Partner, library_partner: Partner
) -> None:
    from idservice.models.residents import Resident

    resident = new_resident(app, given_name="Grace", family_name="Hopper")
    grant(app, resident, "library")
    number = active_card(app, resident)
    with in_app(app):
        person = db_session.get(Resident, resident)
        assert person is not None
        tokens = resident_tokens(app, client, person, leisure_partner.rp, "openid profile")
    sub = claims_of(tokens["id_token"])["sub"]
    leisure = check_card(
        client, service_token(client, leisure_partner.rp, LIBRARY), "library", number
    )
    assert leisure.get_json() == {
        "service": "library",
        "entitled": True,
        "valid_until": "2099-01-01",
        "reason": "entitled",
        "subject": sub,
        "profile": {"given_name": "Grace", "family_name": "Hopper"},
    }
    # The library service has no consent from this resident: yes or no only.
    library = check_card(
        client, service_token(client, library_partner.rp, LIBRARY), "library", number
    )
    assert set(library.get_json()) == {"service", "entitled", "valid_until", "reason"}
    # Withdrawn consent: the leisure partner is back to yes or no.
    response = client.get("/account/connected-services")
    from tests.oauth.conftest import csrf_from

    client.post(
        f"/account/connected-services/{leisure_partner.rp.client_id}/withdraw",
        data={"csrf_token": csrf_from(response.get_data(as_text=True))},
    )
    again = check_card(
        client, service_token(client, leisure_partner.rp, LIBRARY), "library", number
    )
    assert set(again.get_json()) == {"service", "entitled", "valid_until", "reason"}


def test_a_consented_partner_learns_nothing_extra_about_an_invalid_card(
    app: Flask, client: FlaskClient, leisure_partner: Partner
) -> None:
    from idservice.models.residents import Resident

    resident = new_resident(app)
    number = active_card(app, resident, status=CARD_HOTLISTED, hotlist_reason="lost")
    with in_app(app):
        person = db_session.get(Resident, resident)
        assert person is not None
        resident_tokens(app, client, person, leisure_partner.rp, "openid profile")
    body = check_card(client, service_token(client, leisure_partner.rp, LIBRARY), "library", number)
    assert body.get_json() == {
        "service": "library",
        "entitled": False,
        "valid_until": None,
        "reason": "card_not_valid",
    }
