"""Personalisation: what a Gateway's issuing station sends to a blank card.

GENERATE KEY PAIR on the card, the issuer signs a certificate for the returned public key,
PUT DATA stores card data and certificate, SET PIN, then LOCK. Each command carries the
issuer personalisation key's signature over a fresh card challenge.
"""

from __future__ import annotations

from datetime import date

from cardio import certificate as cert
from cardio.cardnumber import validate
from cardio.issuer import Issuer
from cardio.session import KentCardSession


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
