"""The patron password: a card + PIN proof from a kiosk with a reader, checked against
the card register; a PIN from a kiosk without one is "not checked here"."""

from __future__ import annotations

import time
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from cardio.errors import InvalidPinError
from cardio.kioskpin import encode_pin_proof, make_pin_proof, parse_pin_proof
from hardware.virtual_card import InProcessConnection, VirtualKentCard
from idservice.db import db_session
from idservice.models import PartnerQuery
from idservice.sip2.server import Sip2Server
from tests.accounts.conftest import in_app
from tests.cards.conftest import PIN, grant
from tests.cards.test_issuance import issue_one
from tests.sip2.conftest import KioskLogin, People, register, sip2_client

PIN_NOT_CHECKED = "PIN not checked here"
USE_READER = "PIN not confirmed: enter it on the card reader"


@pytest.fixture
def card_kiosk(app: Flask) -> KioskLogin:
    return register(app, "cant-k1", name="Canterbury Library kiosk 1", pin_mode="card")


@pytest.fixture
def issued(app: Flask, blank_card, resident_and_actor) -> tuple[str, VirtualKentCard, str]:
    """A library member with a card issued at the counter (its key on the register)."""
    resident_id, actor = resident_and_actor
    card = blank_card()
    row = issue_one(app, actor, resident_id, card)
    grant(app, resident_id, "library")
    return resident_id, card, row.card_number


def status(bridge: Sip2Server, kiosk: KioskLogin, card: str, password: str) -> dict[str, Any]:
    client = sip2_client(bridge)
    login = client.get_response(client.sip_login_request(kiosk.login, kiosk.password))
    assert client.sip_login_response(login)["fixed"]["Ok"] == "1"
    client.patron, client.patronpwd = card, password
    answer = client.sip_patron_status_response(
        client.get_response(client.sip_patron_status_request())
    )
    client.disconnect()
    return answer["variable"]  # type: ignore[no-any-return]


def test_the_card_confirms_the_pin_once(
    app: Flask, bridge: Sip2Server, card_kiosk: KioskLogin, issued: tuple[str, Any, str]
) -> None:
    _resident, card, number = issued
    proof = make_pin_proof(InProcessConnection(card), PIN)
    assert len(proof) <= 255  # fits a SIP2 field
    accepted = status(bridge, card_kiosk, number, proof)
    assert (accepted["BL"], accepted["CQ"]) == (["Y"], ["Y"])
    assert accepted["AF"] == ["Kent Card accepted: library member"]
    again = status(bridge, card_kiosk, number, proof)  # the same proof, replayed
    assert (again["BL"], again["CQ"], again["AF"][-1]) == (["Y"], ["N"], USE_READER)
    with in_app(app):
        ways = db_session.scalars(select(PartnerQuery.looked_up_by).order_by(PartnerQuery.id))
        assert list(ways) == ["kiosk_card_pin", "kiosk"]


def test_a_wrong_pin_never_becomes_a_proof(
    bridge: Sip2Server, card_kiosk: KioskLogin, issued: tuple[str, Any, str]
) -> None:
    _resident, card, _number = issued
    with pytest.raises(InvalidPinError):
        make_pin_proof(InProcessConnection(card), "0000")


def test_proofs_that_do_not_hold(
    app: Flask,
    bridge: Sip2Server,
    card_kiosk: KioskLogin,
    issued: tuple[str, Any, str],
    people: People,
    blank_card,
    resident_and_actor,
) -> None:
    _resident, card, number = issued
    # Made an hour ago (the kiosk's clock is wrong, or the proof was recorded).
    stale = make_pin_proof(InProcessConnection(card), PIN, now=time.time() - 3600)
    assert status(bridge, card_kiosk, number, stale)["CQ"] == ["N"]
    # Another card's proof for this card number.
    fresh = make_pin_proof(InProcessConnection(card), PIN)
    assert status(bridge, card_kiosk, people.member, fresh)["CQ"] == ["N"]
    # One byte of the signature changed.
    proof = parse_pin_proof(make_pin_proof(InProcessConnection(card), PIN))
    forged = encode_pin_proof(
        proof.challenge, proof.signature[:-1] + bytes([proof.signature[-1] ^ 1])
    )
    assert status(bridge, card_kiosk, number, forged)["CQ"] == ["N"]
    # Not a proof at all: a PIN typed on the kiosk's keypad.
    typed = status(bridge, card_kiosk, number, PIN)
    assert (typed["BL"], typed["CQ"], typed["AF"][-1]) == (["Y"], ["N"], USE_READER)
    # Garbage after the prefix.
    assert status(bridge, card_kiosk, number, "KCPIN1.!!!!")["CQ"] == ["N"]


def test_a_kiosk_without_a_reader_says_the_pin_was_not_checked(
    bridge: Sip2Server, kiosk: KioskLogin, issued: tuple[str, Any, str]
) -> None:
    _resident, card, number = issued
    typed = status(bridge, kiosk, number, PIN)
    assert (typed["BL"], typed["CQ"]) == (["Y"], ["N"])
    assert typed["AF"] == ["Kent Card accepted: library member", PIN_NOT_CHECKED]
    # Even a genuine proof is not checked by a kiosk registered without a reader.
    proof = make_pin_proof(InProcessConnection(card), PIN)
    assert status(bridge, kiosk, number, proof)["AF"][-1] == PIN_NOT_CHECKED


def test_a_hotlisted_card_gets_no_pin_check(
    bridge: Sip2Server, card_kiosk: KioskLogin, people: People
) -> None:
    answer = status(bridge, card_kiosk, people.hotlisted, "KCPIN1.AAAA")
    assert (answer["BL"], answer["CQ"]) == (["N"], ["N"])
