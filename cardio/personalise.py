"""Personalisation: what a Gateway's issuing station sends to a blank card.

GENERATE KEY PAIR on the card, the issuer signs a certificate for the returned public key,
PUT DATA stores card data and certificate, SET PIN, then LOCK. Each command carries the
issuer personalisation key's signature over a fresh card challenge.

:func:`issue` is the one place that both the staff console and ``kentcard virtual-card
new`` use: personalise, then confirm with a real tap that the card proves what was
written, so nothing is called issued that a reader would refuse.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from cardio import certificate as cert
from cardio.cardnumber import validate
from cardio.connection import CardConnection
from cardio.issuer import Issuer
from cardio.session import KentCardSession
from cardio.verify import Reason, TapRejected, authenticate


def personalise(
    session: KentCardSession, issuer: Issuer, card_number: str, expiry: date, pin: str
) -> cert.CardCertificate:
    validate(card_number)
    signer = issuer.personalisation_key
    point = session.generate_key_pair(signer)
    certificate = cert.issue(issuer.certificate_key, card_number, expiry, point)
    session.put_card_data(signer, card_number, expiry, certificate.encode())
    session.set_pin(signer, pin)
    session.lock(signer)
    return certificate


@dataclass(frozen=True)
class IssuedCard:
    certificate: cert.CardCertificate
    apdu_count: int


def confirm(
    connection: CardConnection, issuer: Issuer, certificate: cert.CardCertificate, today: date
) -> None:
    """Tap the card as a reader would; raise :class:`TapRejected` unless it is the card
    this certificate was signed for."""
    verified, _ = authenticate(connection, issuer.keyring(), today)
    if verified.card_number != certificate.card_number or verified.expiry != certificate.expiry:
        raise TapRejected(
            Reason.BAD_CERTIFICATE, "card holds other card data", verified.card_number
        )


def issue(
    connection: CardConnection,
    issuer: Issuer,
    card_number: str,
    expiry: date,
    pin: str,
    today: date,
) -> IssuedCard:
    """Personalise a blank card and confirm it with a tap.

    A card pulled out part way raises :class:`~cardio.connection.CardRemovedError`; it is
    still unlocked then, so the same card can be run again from the start.
    """
    session = KentCardSession(connection)
    certificate = personalise(session, issuer, card_number, expiry, pin)
    count = session.apdu_count
    confirm(connection, issuer, certificate, today)
    return IssuedCard(certificate, count + 2)
