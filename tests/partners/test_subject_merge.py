"""A partner that knew the merged record: it is told, keeps resolving the old subject,
and is told again when the merge is undone. Real HTTP: OpenID Connect sign-in, the
partner API and the webhook (a receiving server), as a partner would see them."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import date
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from idservice.db import db_session
from idservice.models.residents import Resident
from idservice.oauth.claims import pairwise_sub
from idservice.partners import registry
from idservice.partners.delivery import Worker
from idservice.partners.secevent import EVENT_URI_BASE
from idservice.services import merges, unmerge
from idservice.services.merge_steps import StaffActor
from tests.accounts.conftest import in_app
from tests.cards.conftest import grant
from tests.partner_api.conftest import BUS_PASS, check_subject, resident_tokens, service_token
from tests.partner_api.conftest import make_partner as make_partner_api
from tests.partners.conftest import PartnerInfo, decode_set
from tests.partners.receiver import Receiver

SECTOR = "leisure.example"


def _subject_from_sign_in(app: Flask, resident_id: str, rp: Any) -> str:
    browser = app.test_client()
    with in_app(app):
        person = db_session.get(Resident, resident_id)
        assert person is not None
        tokens = resident_tokens(app, browser, person, rp, "openid")
    part = tokens["id_token"].split(".")[1]
    return str(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))["sub"])


def _deliver(app: Flask) -> None:
    worker = Worker(
        engine=app.extensions["kentcard_engine"],
        keys=app.extensions["kentcard_oauth_keys"],
        issuer=app.config["KENTCARD"].issuer,
        batch=10,
        concurrency=2,
        timeout=5.0,
    )
    try:
        report = worker.run(once=True)
    finally:
        worker.close()
    assert report.retrying == 0 and report.dead == 0


def test_partner_is_told_keeps_resolving_the_old_subject_and_hears_of_the_undo(
    app: Flask,
    client: FlaskClient,
    make_resident: Callable[..., Resident],
    make_staff: Callable[..., Any],
    make_partner: Callable[..., PartnerInfo],
    receiver: Receiver,
) -> None:
    leisure = make_partner_with_sign_in(app)
    with in_app(app):
        registry.add_partner(
            leisure.rp.client_id,
            display_name="Leisure Kent",
            contact_email="events@leisure.example",
            webhook_url=receiver.url,
            services=["bus-pass-older"],
            events=["death"],  # subject merges are sent whatever a partner chose
        )
        db_session.commit()
    make_partner("http://127.0.0.1:9/never", services=["blue-badge"], name="Stranger")
    kept = make_resident(email="ada@example.com")
    other = make_resident(email="ada.gateway@example.com")
    grant(app, other.id, "bus-pass-older", valid_until=date(2031, 3, 1))
    old_sub = _subject_from_sign_in(app, other.id, leisure.rp)
    settings = app.config["KENTCARD"]
    new_sub = pairwise_sub(settings, SECTOR, kept.id)
    staff = make_staff(role="gateway-team-leader")
    actor = StaffActor(staff.id, staff.role, "face-to-face", "Registered twice")

    with in_app(app):
        merge_id = merges.merge(actor, kept.id, other.id).id
    _deliver(app)

    [token] = receiver.tokens
    header, claims = decode_set(app, token)
    assert header["typ"] == "secevent+jwt"
    assert (claims["aud"], claims["sub"], claims["sub_id"]) == (
        leisure.rp.client_id,
        old_sub,
        {"format": "opaque", "id": old_sub},
    )
    assert claims["events"] == {
        EVENT_URI_BASE + "subject-merged": {
            "merged_subject": old_sub,
            "surviving_subject": new_sub,
            "occurred_on": date.today().isoformat(),
        }
    }
    assert kept.id not in token and other.id not in token and merge_id not in token
    # The partner goes on checking by the subject it knew; the new one works as well.
    headers = service_token(client, leisure.rp, BUS_PASS)
    for subject in (old_sub, new_sub):
        answer = check_subject(client, headers, "bus-pass-older", subject).get_json()
        assert (answer["entitled"], answer["valid_until"]) == (True, "2031-03-01"), subject

    with in_app(app):
        unmerge.unmerge(StaffActor(staff.id, staff.role, "phone", "Two people"), merge_id)
    _deliver(app)

    assert len(receiver.tokens) == 2
    _, claims = decode_set(app, receiver.tokens[1])
    assert claims["sub"] == old_sub
    assert claims["events"] == {
        EVENT_URI_BASE + "subject-unmerged": {
            "merged_subject": old_sub,
            "surviving_subject": new_sub,
            "occurred_on": date.today().isoformat(),
        }
    }
    assert claims["jti"] != decode_set(app, receiver.tokens[0])[1]["jti"]
    # Each subject is its own person again: the bus pass is the merged record's.
    old = check_subject(client, headers, "bus-pass-older", old_sub).get_json()
    new = check_subject(client, headers, "bus-pass-older", new_sub).get_json()
    assert (old["entitled"], new["entitled"]) == (True, False)


def make_partner_with_sign_in(app: Flask) -> Any:
    return make_partner_api(
        app,
        "Leisure Kent",
        f"openid {BUS_PASS}",
        SECTOR,
        redirect_uris=["https://leisure.example/callback"],
        grant_types=["authorization_code", "client_credentials"],
    )
