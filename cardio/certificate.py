"""The Kent Card certificate: a compact TLV the issuer signs, verified offline by readers.

Layout (docs/card-protocol.md, "Card certificate")::

    7F21 { 7F4E { 5F29 profile, 42 issuer key id, 5A card number, 5F24 expiry,
                  86 card public key (uncompressed P-256 point) },
           5F37 ECDSA P-256 signature, r || s (64 bytes) }

The signature covers ``LABEL_CERTIFICATE || <the 7F4E TLV as encoded>``, so a reader checks
exactly the bytes the card sent and never re-encodes them.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from cardio import spec, tlv
from cardio.cardnumber import from_bcd, to_bcd
from cardio.dates import decode_expiry, encode_expiry

_COORDINATE = 32
_BODY_TAGS = (
    spec.TAG_CERTIFICATE_PROFILE,
    spec.TAG_ISSUER_KEY_ID,
    spec.TAG_CARD_NUMBER,
    spec.TAG_EXPIRY,
    spec.TAG_EC_POINT,
)


class CertificateError(ValueError):
    """The certificate bytes are malformed (not: the signature is wrong)."""


@dataclass(frozen=True)
class CardCertificate:
    issuer_key_id: bytes
    card_number: str
    expiry: date
    public_point: bytes
    signature: bytes
    body: bytes  # the encoded 7F4E TLV, exactly as signed
    profile: int = spec.CERTIFICATE_PROFILE

    def encode(self) -> bytes:
        return tlv.encode(
            spec.TAG_CERTIFICATE,
            self.body + tlv.encode(spec.TAG_CERTIFICATE_SIGNATURE, self.signature),
        )

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return public_key_from_point(self.public_point)

    def signed_by(self, issuer_public_key: ec.EllipticCurvePublicKey) -> bool:
        """True if the issuer key signed this certificate."""
        return verify_raw(issuer_public_key, self.signature, spec.LABEL_CERTIFICATE + self.body)


def public_key_from_point(point: bytes) -> ec.EllipticCurvePublicKey:
    if len(point) != spec.EC_POINT_LENGTH or point[0] != 0x04:
        raise CertificateError("public key is not an uncompressed P-256 point")
    try:
        return _point_key(bytes(point))
    except ValueError as exc:
        raise CertificateError("public key is not a point on P-256") from exc


@functools.lru_cache(maxsize=4096)
def _point_key(point: bytes) -> ec.EllipticCurvePublicKey:
    """Decoding a point costs a field square root: a tap decodes its card's key twice
    (checking the certificate, then verifying with it), and a busy service sees the same
    cards again. Keys are immutable; a point that is not on the curve is never cached."""
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)


def point_of(key: ec.EllipticCurvePublicKey) -> bytes:
    numbers = key.public_numbers()
    return b"\x04" + numbers.x.to_bytes(_COORDINATE, "big") + numbers.y.to_bytes(_COORDINATE, "big")


def key_id_of(key: ec.EllipticCurvePublicKey) -> bytes:
    """First 8 bytes of SHA-256 over the uncompressed point: stable, collision-safe enough."""
    digest = hashes.Hash(hashes.SHA256())
    digest.update(point_of(key))
    return digest.finalize()[: spec.KEY_ID_LENGTH]


def sign_raw(private_key: ec.EllipticCurvePrivateKey, message: bytes) -> bytes:
    der = private_key.sign(message, ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    return r.to_bytes(_COORDINATE, "big") + s.to_bytes(_COORDINATE, "big")


def verify_raw(public_key: ec.EllipticCurvePublicKey, signature: bytes, message: bytes) -> bool:
    if len(signature) != 2 * _COORDINATE:
        return False
    r = int.from_bytes(signature[:_COORDINATE], "big")
    s = int.from_bytes(signature[_COORDINATE:], "big")
    return verify_der(public_key, encode_dss_signature(r, s), message)


def verify_der(public_key: ec.EllipticCurvePublicKey, der: bytes, message: bytes) -> bool:
    try:
        public_key.verify(der, message, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True


def encode_body(issuer_key_id: bytes, card_number: str, expiry: date, public_point: bytes) -> bytes:
    if len(issuer_key_id) != spec.KEY_ID_LENGTH:
        raise CertificateError("issuer key id is 8 bytes")
    return tlv.encode(
        spec.TAG_CERTIFICATE_BODY,
        tlv.encode_all(
            [
                (spec.TAG_CERTIFICATE_PROFILE, bytes([spec.CERTIFICATE_PROFILE])),
                (spec.TAG_ISSUER_KEY_ID, issuer_key_id),
                (spec.TAG_CARD_NUMBER, to_bcd(card_number)),
                (spec.TAG_EXPIRY, encode_expiry(expiry)),
                (spec.TAG_EC_POINT, public_point),
            ]
        ),
    )


def issue(
    issuer_private_key: ec.EllipticCurvePrivateKey,
    card_number: str,
    expiry: date,
    public_point: bytes,
) -> CardCertificate:
    """Sign a certificate binding the card number and expiry to the card's own key."""
    public_key_from_point(public_point)
    key_id = key_id_of(issuer_private_key.public_key())
    body = encode_body(key_id, card_number, expiry, public_point)
    signature = sign_raw(issuer_private_key, spec.LABEL_CERTIFICATE + body)
    return decode(
        tlv.encode(
            spec.TAG_CERTIFICATE, body + tlv.encode(spec.TAG_CERTIFICATE_SIGNATURE, signature)
        )
    )


def decode(data: bytes) -> CardCertificate:
    """Parse a 7F21 certificate strictly; raise :class:`CertificateError` if malformed."""
    try:
        outer = tlv.parse_one(data, spec.TAG_CERTIFICATE).children()
        if len(outer) != 2 or outer[0].tag != spec.TAG_CERTIFICATE_BODY:
            raise CertificateError("certificate must hold a body then a signature")
        if outer[1].tag != spec.TAG_CERTIFICATE_SIGNATURE:
            raise CertificateError("certificate signature missing")
        fields = tlv.to_dict(outer[0].children(), allowed=_BODY_TAGS)
        profile = tlv.require(fields, spec.TAG_CERTIFICATE_PROFILE)
        if profile != bytes([spec.CERTIFICATE_PROFILE]):
            raise CertificateError(f"unsupported certificate profile {profile.hex()}")
        key_id = tlv.require(fields, spec.TAG_ISSUER_KEY_ID)
        if len(key_id) != spec.KEY_ID_LENGTH:
            raise CertificateError("issuer key id is 8 bytes")
        point = tlv.require(fields, spec.TAG_EC_POINT)
        public_key_from_point(point)
        signature = outer[1].value
        if len(signature) != 2 * _COORDINATE:
            raise CertificateError("certificate signature is 64 bytes")
        return CardCertificate(
            issuer_key_id=key_id,
            card_number=from_bcd(tlv.require(fields, spec.TAG_CARD_NUMBER)),
            expiry=decode_expiry(tlv.require(fields, spec.TAG_EXPIRY)),
            public_point=point,
            signature=signature,
            body=outer[0].encode(),
        )
    except CertificateError:
        raise
    except ValueError as exc:  # TlvError, CardNumberError and date errors are ValueErrors
        raise CertificateError(str(exc)) from exc
