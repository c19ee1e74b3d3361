"""A kiosk as PyPI's ``sip2`` client (module ``Sip2``) plays one, against the bridge
served over TCP: member, non-member, hotlisted card, unknown card, wrong login. Every
answer is also read by a second, independent SIP2 codec (PyPI's ``pysip2``), which
checks each field's format and the checksum."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from pysip2 import decode_message
from pysip2.models import ACSStatusResponse, PatronInformationResponse, PatronStatusResponse
from sqlalchemy import select

from idservice.db import db_session
from idservice.models import AuditRecord, PartnerQuery
from idservice.sip2.server import Sip2Server
from tests.accounts.conftest import in_app
from tests.sip2.conftest import (
    INSTITUTION,
    UNKNOWN_CARD,
    KioskLogin,
    People,
    raw,
    register,
    sip2_client,
)


def checked(frame: str, kind: type) -> Any:
    """The answer as pysip2 reads it (its own checks of every field); must be ``kind``."""
    decoded = decode_message(frame.encode("utf-8"))
    assert isinstance(decoded.message, kind), decoded
    return decoded


def logged_in(bridge: Sip2Server, kiosk: KioskLogin, *, checksums: bool = True) -> Any:
    client = sip2_client(bridge, checksums=checksums)
    answer = client.get_response(client.sip_login_request(kiosk.login, kiosk.password))
    assert client.sip_login_response(answer)["fixed"]["Ok"] == "1"
    return client


def patron_status(client: Any, card: str, pin: str = "") -> tuple[dict[str, Any], str]:
    client.patron, client.patronpwd = card, pin
    answer = client.get_response(client.sip_patron_status_request())
    return client.sip_patron_status_response(answer), answer


@pytest.mark.parametrize("checksums", [True, False], ids=["checksums", "plain"])
def test_a_kiosk_logs_in_and_asks_about_four_cards(
    app: Flask, bridge: Sip2Server, kiosk: KioskLogin, people: People, checksums: bool
) -> None:
    client = logged_in(bridge, kiosk, checksums=checksums)
    status = client.get_response(client.sip_sc_status_request())
    parsed = client.sip_sc_status_response(status)
    assert parsed["fixed"]["OnlineStatus"] == "Y"
    assert parsed["variable"]["BX"] == ["YNNNYYYYYNNNNNNN"]  # patron messages only
    acs = checked(status, ACSStatusResponse).message
    assert (acs.checkout_ok, acs.checkin_ok, acs.institution_id) == ("N", "N", INSTITUTION)

    member, frame = patron_status(client, people.member)
    assert member["fixed"]["PatronStatus"] == " " * 14
    assert member["variable"]["BL"] == ["Y"]
    assert member["variable"]["AE"] == ["J M S"]  # initials only, by default
    assert member["variable"]["AF"] == ["Kent Card accepted: library member"]
    assert "CQ" not in member["variable"]  # no PIN was sent
    decoded = checked(frame, PatronStatusResponse)
    assert decoded.message.patron_identifier == people.member
    assert (decoded.sequence_number is not None) is checksums

    other, frame = patron_status(client, people.non_member)
    assert other["variable"]["BL"] == ["N"] and other["variable"]["AE"] == [""]
    assert other["fixed"]["PatronStatus"] == "YYYY" + " " * 10
    assert other["variable"]["AF"] == [
        "This Kent Card does not include library membership: ask library staff"
    ]
    checked(frame, PatronStatusResponse)

    lost, frame = patron_status(client, people.hotlisted)
    assert lost["variable"]["BL"] == ["N"] and lost["variable"]["AE"] == [""]
    assert lost["fixed"]["PatronStatus"] == "YYYYY" + " " * 9  # "card reported lost"
    assert lost["variable"]["AF"] == ["This Kent Card cannot be used: ask library staff"]
    checked(frame, PatronStatusResponse)

    unknown, frame = patron_status(client, UNKNOWN_CARD)
    assert unknown["variable"]["BL"] == ["N"]
    assert unknown["variable"]["AF"] == ["Kent Card not recognised: ask library staff"]
    checked(frame, PatronStatusResponse)

    client.patron = people.member
    info = client.get_response(client.sip_patron_information_request("charged"))
    parsed = client.sip_patron_information_response(info)
    assert parsed["fixed"]["ChargedItemsCount"] == "    "  # loans are the LMS's
    assert parsed["variable"]["BL"] == ["Y"]
    assert "AU" not in parsed["variable"]
    checked(info, PatronInformationResponse)

    ended = client.get_response(client.sip_end_patron_session_request())
    assert client.sip_end_patron_session_response(ended)["fixed"]["EndSession"] == "Y"
    client.disconnect()

    with in_app(app):
        rows = db_session.scalars(select(PartnerQuery).order_by(PartnerQuery.id)).all()
        audited = db_session.scalars(
            select(AuditRecord).where(AuditRecord.action == "partner.entitlement_checked")
        ).all()
    assert [(r.client_id, r.looked_up_by, r.result) for r in rows] == [
        (kiosk.client_id, "kiosk", "entitled"),
        (kiosk.client_id, "kiosk", "not_entitled"),
        (kiosk.client_id, "kiosk", "card_not_valid"),
        (kiosk.client_id, "kiosk", "unknown"),
        (kiosk.client_id, "kiosk", "entitled"),
    ]
    assert next((a.resident_id, a.channel, a.details["client_name"]) for a in audited) == (
        people.member_id,
        "partner",
        kiosk.name,
    )
    assert len(audited) == 4  # the unknown card looked at nobody's record


def test_the_wrapper_kiosk_flow_accepts_a_member_and_refuses_the_others(
    bridge: Sip2Server, kiosk: KioskLogin, people: People
) -> None:
    """The client's own kiosk flow: log the device in, self-check (99), then patrons."""
    from Sip2.wrapper import Sip2Wrapper

    host, port = bridge.address
    params = {
        "hostName": host,
        "hostPort": port,
        "tlsEnable": False,
        "institutionId": INSTITUTION,
        "socketTimeout": 5,
    }
    wrapper = Sip2Wrapper(params, False)
    wrapper._sip2.log = __import__("logging").getLogger("tests.sip2.client")
    assert wrapper.connect()
    assert wrapper.login_device(kiosk.login, kiosk.password, True)
    assert wrapper.login_patron(people.member) is True
    assert wrapper.login_patron(people.non_member) is False
    assert wrapper.login_patron(people.hotlisted) is False
    assert wrapper.login_patron(UNKNOWN_CARD) is False
    wrapper.disconnect()


def test_a_wrong_login_is_refused_and_answers_nothing_else(
    app: Flask, bridge: Sip2Server, kiosk: KioskLogin, people: People
) -> None:
    client = sip2_client(bridge)
    answer = client.get_response(client.sip_login_request(kiosk.login, "not-the-password"))
    assert client.sip_login_response(answer)["fixed"]["Ok"] == "0"
    status = client.sip_sc_status_response(client.get_response(client.sip_sc_status_request()))
    assert status["fixed"]["OnlineStatus"] == "N"
    assert status["variable"]["AF"] == ["Log in first (SIP2 message 93)"]
    refused, frame = patron_status(client, people.member)
    assert refused["variable"]["BL"] == ["N"] and refused["variable"]["AE"] == [""]
    assert refused["variable"]["AF"] == ["Log in first (SIP2 message 93)"]
    checked(frame, PatronStatusResponse)
    unknown = client.get_response(client.sip_login_request("nobody", kiosk.password))
    assert client.sip_login_response(unknown)["fixed"]["Ok"] == "0"
    client.disconnect()
    with in_app(app):
        assert db_session.scalars(select(PartnerQuery)).all() == []  # nothing was looked up
        failed = db_session.scalars(
            select(AuditRecord).where(AuditRecord.action == "sip2.login_failed")
        ).all()
    assert [
        (a.details["login"], a.details["failed_logins"], a.details["address"]) for a in failed
    ] == [(kiosk.login, 1, "127.0.0.1")]


def test_an_inactive_kiosk_cannot_log_in(app: Flask, bridge: Sip2Server) -> None:
    retired = register(app, "old-kiosk")
    from idservice.sip2 import kiosks

    with in_app(app):
        kiosks.update_kiosk("old-kiosk", active=False)
    client = sip2_client(bridge)
    answer = client.get_response(client.sip_login_request(retired.login, retired.password))
    assert client.sip_login_response(answer)["fixed"]["Ok"] == "0"
    client.disconnect()


def test_item_transactions_are_sent_to_the_library_system(
    bridge: Sip2Server, kiosk: KioskLogin, people: People
) -> None:
    client = logged_in(bridge, kiosk)
    client.patron = people.member
    checkout = client.get_response(client.sip_checkout_request("39000123"))
    parsed = client.sip_checkout_response(checkout)
    assert parsed["fixed"]["Ok"] == "0"
    assert parsed["variable"]["AF"] == [
        "Loans, returns and renewals are handled by the library system, not here"
    ]
    decode_message(checkout.encode())
    for request in (
        client.sip_checkin_request("39000123"),
        client.sip_renew_request("39000123"),
        client.sip_renew_all_request(),
        client.sip_item_information_request("39000123"),
    ):
        answer = client.get_response(request)
        decode_message(answer.encode())  # a well-formed "no" of the right kind
        assert answer[:2] == str(int(request[:2]) + 1).zfill(2)
    client.disconnect()


def test_raw_frames_with_and_without_sequence_numbers(
    bridge: Sip2Server, kiosk: KioskLogin, people: People
) -> None:
    from idservice.sip2.codec import checksum

    login = f"9300CN{kiosk.login}|CO{kiosk.password}|".encode()
    with_trailer = login + b"AY4AZ"
    with_trailer += checksum(with_trailer).encode() + b"\r"
    status = b"9900302.00AY5AZ"
    status += checksum(status).encode() + b"\r"
    answers = raw(bridge, with_trailer, status, b"9900302.00\r")
    assert answers[0].startswith(b"941AY4AZ")
    assert decode_message(answers[0]).sequence_number == 4
    assert answers[1].startswith(b"98Y") and decode_message(answers[1]).sequence_number == 5
    # Once a kiosk sends checksums, a frame without one was damaged on the way.
    assert answers[2] == b"96AZFEF6\r"
    plain = raw(bridge, f"9300CN{kiosk.login}|CO{kiosk.password}|\r".encode(), b"9900302.00\r")
    assert plain[0] == b"941\r" and plain[1].startswith(b"98Y")
