"""The development issuer: a certificate key and a personalisation key under the instance.

Two keys with two jobs. The certificate key signs card certificates; readers hold its
public half in their keyring. The personalisation key signs administrative commands
(GENERATE KEY PAIR, PUT DATA, SET PIN, LOCK and the unblock); a blank card is given its
public half when the application is installed. Neither private key ever reaches a reader.
Hardening (HSM, separate machines) and rotation commands come with card issuance.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from cardio.certificate import key_id_of, point_of
from cardio.keyring import IssuerKeyring, IssuerPublicKey

FORMAT = "kentcard-issuer/1"


class IssuerError(RuntimeError):
    """The issuer folder is missing or inconsistent."""


@dataclass(frozen=True)
class PersonalisationKey:
    """Signs administrative commands for cards (the :class:`AdminSigner` of a session)."""

    private_key: ec.EllipticCurvePrivateKey

    @property
    def key_id(self) -> bytes:
        return key_id_of(self.private_key.public_key())

    @property
    def public_point(self) -> bytes:
        return point_of(self.private_key.public_key())

    def sign(self, message: bytes) -> bytes:
        return self.private_key.sign(message, ec.ECDSA(hashes.SHA256()))


@dataclass(frozen=True)
class Issuer:
    certificate_key: ec.EllipticCurvePrivateKey
    personalisation_key: PersonalisationKey

    @property
    def certificate_key_id(self) -> bytes:
        return key_id_of(self.certificate_key.public_key())

    def keyring(self) -> IssuerKeyring:
        return IssuerKeyring(
            [IssuerPublicKey(self.certificate_key_id, self.certificate_key.public_key())]
        )

    @classmethod
    def generate(cls) -> Issuer:
        return cls(
            ec.generate_private_key(ec.SECP256R1()),
            PersonalisationKey(ec.generate_private_key(ec.SECP256R1())),
        )


def _write_private(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
        handle.flush()
        os.fsync(handle.fileno())


def _read_private(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise IssuerError(f"{path} is not a P-256 private key")
    return key


class IssuerStore:
    """``<instance>/issuer``: issuer.json naming the current keys, one PEM file per key."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @property
    def metadata_path(self) -> Path:
        return self.folder / "issuer.json"

    def exists(self) -> bool:
        return self.metadata_path.exists()

    def init(self) -> Issuer:
        """Create both keys; refuses to overwrite an existing issuer."""
        if self.exists():
            raise IssuerError(f"an issuer already exists in {self.folder}")
        self.folder.mkdir(parents=True, exist_ok=True)
        self.folder.chmod(0o700)
        issuer = Issuer.generate()
        cert_id = issuer.certificate_key_id.hex()
        perso_id = issuer.personalisation_key.key_id.hex()
        _write_private(self.folder / f"certificate-key-{cert_id}.pem", issuer.certificate_key)
        _write_private(
            self.folder / f"personalisation-key-{perso_id}.pem",
            issuer.personalisation_key.private_key,
        )
        metadata = {
            "format": FORMAT,
            "certificate_key_id": cert_id,
            "personalisation_key_id": perso_id,
        }
        self.metadata_path.write_text(json.dumps(metadata, indent=2) + "\n")
        return issuer

    def load(self) -> Issuer:
        if not self.exists():
            raise IssuerError(f"no issuer in {self.folder}: run `kentcard issuer init`")
        metadata = json.loads(self.metadata_path.read_text())
        if metadata.get("format") != FORMAT:
            raise IssuerError(f"{self.metadata_path} is not a {FORMAT} document")
        cert_id = str(metadata["certificate_key_id"])
        perso_id = str(metadata["personalisation_key_id"])
        issuer = Issuer(
            _read_private(self.folder / f"certificate-key-{cert_id}.pem"),
            PersonalisationKey(_read_private(self.folder / f"personalisation-key-{perso_id}.pem")),
        )
        if issuer.certificate_key_id.hex() != cert_id:
            raise IssuerError("certificate key does not match its key id")
        if issuer.personalisation_key.key_id.hex() != perso_id:
            raise IssuerError("personalisation key does not match its key id")
        return issuer
