"""A kiosk's patron look-up: "does this Kent Card hold library membership now?"

The answer is the partner check's (:func:`idservice.partner_api.checks.answer_check`,
the same decision on the same ledger projection and card register), asked by the
kiosk's registered client for the kiosk's membership service, on the bridge's lean
connection. It is recorded as every partner check is: a ``partner_queries`` row and an
audit record, so the resident's "who checked" page lists the kiosk by its name and
"at a library kiosk". What goes back to the kiosk is only what membership needs:
member or not (and why not, in words for the screen), and for a member the name in the
kiosk's configured form, initials by default.

A patron password (the PIN) is checked only as a card + PIN proof from a kiosk with a
card reader (:mod:`cardio.kioskpin`): the bridge never sees a PIN. A kiosk without a
reader that sends one is told it was not checked here (docs/sip2.md).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError

from cardio.kioskpin import PinProofError, looks_like_pin_proof, parse_pin_proof, proof_signed_by
from cardio.verify import challenge_time
from idservice.db import LeanConnection, LeanDatabase
from idservice.models.base import utcnow
from idservice.models.cards import CARD_ACTIVE, CARD_HOTLISTED
from idservice.partner_api import checks
from idservice.partner_api import dao as partner_dao
from idservice.sip2 import dao
from idservice.sip2.kiosks import Kiosk

log = logging.getLogger("kentcard.sip2")

#: A Kent Card number as a kiosk reads it off the card or its barcode.
CARD_NUMBER = re.compile(r"[0-9]{12,19}")

#: How the look-up is recorded in ``partner_queries.looked_up_by`` (and said on the
#: resident's "who checked" page).
BY_KIOSK = "kiosk"
BY_KIOSK_WITH_PIN = "kiosk_card_pin"

#: What the kiosk's screen says, by the check's reason (SIP2 field AF).
SCREEN = {
    "entitled": "Kent Card accepted: library member",
    "not_entitled": "This Kent Card does not include library membership: ask library staff",
    "not_yet_valid": "Library membership on this Kent Card has not started yet",
    "expired": "Library membership on this Kent Card has ended: ask library staff",
    "suspended": "Library membership on this Kent Card is paused: ask library staff",
    "card_not_valid": "This Kent Card cannot be used: ask library staff",
    "unknown": "Kent Card not recognised: ask library staff",
    "not_a_card_number": "This is not a Kent Card number",
}
PIN_NOT_CHECKED = "PIN not checked here"
PIN_USE_READER = "PIN not confirmed: enter it on the card reader"


@dataclass(frozen=True)
class PatronAnswer:
    """What the bridge tells a kiosk about one card."""

    reason: str
    entitled: bool
    card_reported_lost: bool = False
    name: str = ""
    #: SIP2 ``CQ``: ``Y`` the card confirmed the PIN, ``N`` not, None when none was sent.
    pin: str | None = None
    messages: tuple[str, ...] = ()


def format_name(given: str, family: str, name_format: str) -> str:
    """A member's name in the form the library system asked for (docs/sip2.md)."""
    if name_format == "initials":
        return " ".join(part[0].upper() for part in f"{given} {family}".split() if part)
    if name_format == "initial-family":
        initials = " ".join(part[0].upper() for part in given.split() if part)
        return f"{initials} {family}".strip()
    if name_format == "family-given":
        return f"{family}, {given}".strip(", ")
    return ""


class KioskCheckStore:
    """:class:`idservice.partner_api.checks.CheckStore` for a kiosk, on a lean
    connection. The record is kept until the PIN (if any) was checked, then written with
    how the kiosk found the resident (:meth:`write`)."""

    def __init__(self, connection: LeanConnection) -> None:
        self.connection = connection
        self.found: partner_dao.Found | None = None
        #: Read with the look-up; given to the kiosk only for a member (:func:`format_name`).
        self.resident_names: tuple[str, str] | None = None
        self.values: dict[str, Any] | None = None

    def find(
        self,
        partner: checks.Partner,
        service: str,
        *,
        card_number: str | None,
        subject: str | None,
    ) -> partner_dao.Found | None:
        if card_number is None:
            return None  # a wrong check digit: on no card
        self.found, self.resident_names = partner_dao.dao_lean_find_by_card_number(
            self.connection, card_number, service, partner.client_id
        )
        return self.found

    def names(self, resident_id: str) -> tuple[str, str] | None:
        raise RuntimeError("a kiosk has no resident's consent to be given a profile")

    def remember_subject(self, sector: str, subject: str, resident_id: str) -> None:
        raise RuntimeError("a kiosk is never given a pairwise subject")

    def record(self, values: dict[str, Any]) -> None:
        self.values = values

    def write(self, looked_up_by: str) -> None:
        if self.values is not None:
            partner_dao.dao_lean_record_check(
                self.connection, **{**self.values, "looked_up_by": looked_up_by}
            )


def look_up_patron(
    database: LeanDatabase,
    kiosk: Kiosk,
    patron_id: str,
    patron_password: str | None,
    *,
    window: int = 30,
    today: date | None = None,
    now: datetime | None = None,
) -> PatronAnswer:
    """Answer one patron status or information request, and record it."""
    if CARD_NUMBER.fullmatch(patron_id) is None:
        return PatronAnswer("not_a_card_number", False, messages=(SCREEN["not_a_card_number"],))
    partner = checks.Partner(kiosk.client_id, kiosk.name, f"client:{kiosk.client_id}", frozenset())
    with LeanConnection(database) as connection:
        store = KioskCheckStore(connection)
        result = checks.answer_check(
            store, partner, kiosk.service, card_number=patron_id, today=today
        )
        found = store.found
        pin: str | None = None
        messages = [SCREEN.get(result.reason, SCREEN["unknown"])]
        if patron_password:
            if kiosk.pin_mode != "card":
                pin, note = "N", PIN_NOT_CHECKED
            elif result.reason in ("unknown", "card_not_valid"):
                pin, note = "N", PIN_USE_READER
            else:
                pin, note = _check_pin(connection, patron_id, patron_password, window, now)
            if note:
                messages.append(note)
        store.write(BY_KIOSK_WITH_PIN if pin == "Y" else BY_KIOSK)
        names = store.resident_names
        name = ""
        if result.entitled and names is not None:
            name = format_name(*names, kiosk.name_format)
        connection.commit()
    lost = found is not None and found.card_status == CARD_HOTLISTED
    return PatronAnswer(result.reason, result.entitled, lost, name, pin, tuple(messages))


def _check_pin(
    connection: LeanConnection,
    card_number: str,
    password: str,
    window: int,
    now: datetime | None,
) -> tuple[str, str]:
    """``("Y", "")`` when the password is this card's fresh, unused card + PIN proof;
    otherwise ``("N", what the screen says)``."""
    if not looks_like_pin_proof(password):
        return "N", PIN_USE_READER
    try:
        proof = parse_pin_proof(password)
    except PinProofError:
        return "N", PIN_USE_READER
    card = dao.dao_card_key(connection, card_number)
    if card is None or card.public_key is None or card.status != CARD_ACTIVE:
        return "N", PIN_USE_READER
    now = now or utcnow()
    age = now.timestamp() - challenge_time(proof.challenge)
    if abs(age) > window:
        log.info("card + PIN proof refused: challenge %.0f s away from our clock", age)
        return "N", PIN_USE_READER
    if not proof_signed_by(proof, bytes(card.public_key), card_number, card.expiry):
        return "N", PIN_USE_READER
    try:
        dao.dao_remember_proof(connection, card.id, proof.challenge, now)
    except IntegrityError:
        log.warning("card + PIN proof sent a second time: refused")
        return "N", PIN_USE_READER
    dao.dao_forget_proofs(connection, now - timedelta(seconds=2 * window))
    return "Y", ""
