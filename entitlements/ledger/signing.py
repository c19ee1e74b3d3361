"""Signing tree heads with the instance's ECDSA P-256 key, and checking them.

The private key lives in the instance folder (never in the database, so someone who can
edit the database still cannot sign a tree head for edited events), mode 0600 and, given a
passphrase, as an encrypted PKCS#8 PEM (the app passes the issuer key passphrase, as for the
card issuer's keys). A key written before it was protected is read once and rewritten
encrypted. Anyone holding the public key can check a signed tree head and, through it, an
inclusion proof.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

KEY_FILE = "ledger-signing-key.pem"
#: As for the issuer's keys (cardio.issuer.MIN_PASSPHRASE).
MIN_PASSPHRASE = 12


class LedgerKeyError(ValueError):
    """The ledger key cannot be opened or written: no passphrase, a wrong one, or a bad file."""


@dataclass(frozen=True)
class SigningKey:
    private_key: ec.EllipticCurvePrivateKey

    @property
    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self.private_key.public_key()

    @property
    def key_id(self) -> str:
        return key_id(self.public_key)

    def sign(self, body: bytes) -> bytes:
        return self.private_key.sign(body, ec.ECDSA(hashes.SHA256()))

    def public_pem(self) -> str:
        return public_pem(self.public_key)


def key_id(public_key: ec.EllipticCurvePublicKey) -> str:
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()[:32]


def public_pem(public_key: ec.EllipticCurvePublicKey) -> str:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def load_public_pem(text: str) -> ec.EllipticCurvePublicKey:
    key = serialization.load_pem_public_key(text.encode())
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise ValueError("the ledger's public key must be ECDSA P-256")
    return key


def verify_signature(public_key: ec.EllipticCurvePublicKey, body: bytes, signature: bytes) -> bool:
    try:
        public_key.verify(signature, body, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def _pem(key: ec.EllipticCurvePrivateKey, passphrase: bytes | None) -> bytes:
    protection: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, protection
    )


def _write_new(path: Path, data: bytes) -> None:
    """Write a file that is 0600 from its creation: never readable by others, even briefly."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _replace(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    _write_new(tmp, data)
    os.replace(tmp, path)


def is_encrypted(path: Path) -> bool:
    return path.read_bytes().lstrip().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")


def _checked_passphrase(passphrase: bytes | None) -> bytes | None:
    if passphrase is not None and len(passphrase) < MIN_PASSPHRASE:
        raise LedgerKeyError(
            f"the passphrase for the ledger key must be at least {MIN_PASSPHRASE} characters long"
        )
    return passphrase


def load_or_create_key(instance_path: Path, passphrase: bytes | None = None) -> SigningKey:
    """The instance's ledger key, created (readable by this user only) on first use.

    With ``passphrase`` the key is kept encrypted, and a key found unencrypted is rewritten
    encrypted (replacing the file in one step). Without one, an unencrypted key is read
    or created as before, and an encrypted one cannot be opened.
    """
    path = instance_path / KEY_FILE
    if path.exists():
        encrypted = is_encrypted(path)
        if encrypted and not passphrase:
            raise LedgerKeyError(f"{path} is encrypted: the issuer key passphrase is needed")
        try:
            key = serialization.load_pem_private_key(
                path.read_bytes(), password=passphrase if encrypted else None
            )
        except (ValueError, TypeError):
            raise LedgerKeyError(f"{path} cannot be opened: a wrong passphrase?") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise LedgerKeyError(f"{path} is not an ECDSA key")
        if passphrase and not encrypted:
            _replace(path, _pem(key, _checked_passphrase(passphrase)))
        return SigningKey(key)
    passphrase = _checked_passphrase(passphrase)
    instance_path.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    _write_new(path, _pem(key, passphrase))
    return SigningKey(key)
