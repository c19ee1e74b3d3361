"""The card issuer's keys: a certificate key and a personalisation key, encrypted at rest.

Three keys with three jobs. The certificate key signs card certificates; readers hold its
public half in their keyring. The personalisation key signs administrative commands
(GENERATE KEY PAIR, PUT DATA, SET PIN, LOCK and the unblock); a blank card is given its
public half when the application is installed. The snapshot key signs the readers'
offline lists (docs/readers.md); readers hold its public half beside the certificate
keys, under ``snapshot_keys``. No private key ever reaches a reader.

At rest (``<instance>/issuer``): ``issuer.json`` names the keys and lists every certificate
key's public half and validity; each private key is a PKCS#8 PEM encrypted with a
passphrase (``BestAvailableEncryption``), file mode 0600. Or no private key is stored at
all: a key-management hook (:data:`KeyHook`) hands over the current key for each role.

Rotation (:meth:`IssuerStore.rotate`) makes a new certificate key that signs every new
certificate; the old public key stays in the keyring, ``verify-only``, until the last card
it can have signed has expired, so old cards keep working. The snapshot key rotates the same
way (:meth:`IssuerStore.rotate_snapshot_key`; the old key verifies for an overlap of days,
so lists already on readers still load). The personalisation key is not rotated here:
every blank card in stock carries its public half (see docs/card-protocol.md).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from cardio.certificate import CertificateError, key_id_of, point_of, public_key_from_point
from cardio.keyring import IssuerKeyring, IssuerPublicKey

FORMAT_V1 = "kentcard-issuer/1"  # unencrypted keys, before issuer keys were protected
FORMAT = "kentcard-issuer/2"
CERTIFICATE = "certificate"
PERSONALISATION = "personalisation"
SNAPSHOT = "snapshot"
#: How long a replaced snapshot key still verifies: lists signed with it stay loadable
#: on readers until the new key's lists have reached them.
SNAPSHOT_KEY_OVERLAP_DAYS = 30
ROLES = (CERTIFICATE, PERSONALISATION)
MIN_PASSPHRASE = 12
#: The issuer folder's public description: key ids, roles, dates and public keys.
METADATA_FILE = "issuer.json"

#: ``hook(role) -> private key``: the current key for ``"certificate"``,
#: ``"personalisation"`` or ``"snapshot"``, from a key manager. Configured as
#: ``module:callable``.
KeyHook = Callable[[str], ec.EllipticCurvePrivateKey]


class IssuerError(RuntimeError):
    """The issuer folder is missing or inconsistent."""


class IssuerLocked(IssuerError):
    """The private keys cannot be opened: no passphrase, a wrong one, or a failing hook."""


@dataclass(frozen=True)
class KeyProtection:
    """How the private keys are protected: a passphrase, or a key-management hook.

    ``source`` says where it came from, for messages ("KENTCARD_ISSUER_PASSPHRASE").
    """

    passphrase: bytes | None = None
    hook: KeyHook | None = None
    source: str = ""


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
    #: Earlier certificate keys whose cards may still be in use (``verify-only``).
    previous_keys: tuple[IssuerPublicKey, ...] = field(default=())

    @property
    def certificate_key_id(self) -> bytes:
        return key_id_of(self.certificate_key.public_key())

    def keyring(self) -> IssuerKeyring:
        """The current key (``active``) and every earlier key still verifying cards."""
        current = IssuerPublicKey(self.certificate_key_id, self.certificate_key.public_key())
        return IssuerKeyring([*self.previous_keys, current])

    @classmethod
    def generate(cls) -> Issuer:
        return cls(
            ec.generate_private_key(ec.SECP256R1()),
            PersonalisationKey(ec.generate_private_key(ec.SECP256R1())),
        )


@dataclass(frozen=True)
class CertificateKeyRecord:
    """One certificate key in ``issuer.json``: public half and validity, never the secret.

    ``signs_until`` is the day it was replaced (None while it signs); ``verify_until`` the
    last day a card it signed can be valid (None while it signs).
    """

    key_id: str
    public_key: str  # uncompressed point, hex
    valid_from: date
    signs_until: date | None = None
    verify_until: date | None = None

    @property
    def status(self) -> str:
        return "active" if self.signs_until is None else "verify-only"

    def usable_on(self, today: date) -> bool:
        return self.verify_until is None or today <= self.verify_until

    def public(self) -> IssuerPublicKey:
        point = bytes.fromhex(self.public_key)
        return IssuerPublicKey(
            bytes.fromhex(self.key_id), public_key_from_point(point), self.status
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "public_key": self.public_key,
            "status": self.status,
            "valid_from": self.valid_from.isoformat(),
            "signs_until": self.signs_until.isoformat() if self.signs_until else None,
            "verify_until": self.verify_until.isoformat() if self.verify_until else None,
        }

    @classmethod
    def from_json(cls, entry: dict[str, Any]) -> CertificateKeyRecord:
        def day(name: str) -> date | None:
            value = entry.get(name)
            return date.fromisoformat(value) if value else None

        return cls(
            key_id=str(entry["key_id"]),
            public_key=str(entry["public_key"]),
            valid_from=date.fromisoformat(entry["valid_from"]),
            signs_until=day("signs_until"),
            verify_until=day("verify_until"),
        )

    @classmethod
    def of(cls, key: ec.EllipticCurvePrivateKey, today: date) -> CertificateKeyRecord:
        public = key.public_key()
        return cls(key_id_of(public).hex(), point_of(public).hex(), today)


def _pem(key: ec.EllipticCurvePrivateKey, passphrase: bytes) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase),
    )


def _write_file(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write ``data`` to ``path`` whole or not at all (temporary file, fsync, rename)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _check_p256(key: object, where: str) -> ec.EllipticCurvePrivateKey:
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise IssuerError(f"{where} is not a P-256 private key")
    return key


class IssuerStore:
    """``<instance>/issuer``: issuer.json naming the keys, one encrypted PEM per private key."""

    def __init__(self, folder: Path, protection: KeyProtection | None = None) -> None:
        self.folder = folder
        self.protection = protection or KeyProtection()

    @property
    def metadata_path(self) -> Path:
        return self.folder / METADATA_FILE

    def exists(self) -> bool:
        return self.metadata_path.exists()

    def _key_path(self, role: str, key_id: str) -> Path:
        return self.folder / f"{role}-key-{key_id}.pem"

    # -- reading ---------------------------------------------------------------------------

    def _metadata(self) -> dict[str, Any]:
        if not self.exists():
            raise IssuerError(f"no issuer in {self.folder}: run `kentcard issuer init`")
        try:
            metadata = json.loads(self.metadata_path.read_text())
        except json.JSONDecodeError as exc:
            raise IssuerError(f"{self.metadata_path} is not JSON: {exc}") from None
        if not isinstance(metadata, dict) or metadata.get("format") not in (FORMAT, FORMAT_V1):
            raise IssuerError(f"{self.metadata_path} is not a {FORMAT} document")
        return metadata

    def _records(self, metadata: dict[str, Any]) -> list[CertificateKeyRecord]:
        try:
            return [CertificateKeyRecord.from_json(e) for e in metadata["certificate_keys"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise IssuerError(f"{self.metadata_path}: bad certificate key entry: {exc}") from None

    def certificate_keys(self) -> list[CertificateKeyRecord]:
        """Every certificate key recorded, oldest first (public halves only)."""
        metadata = self._metadata()
        if metadata["format"] == FORMAT_V1:
            key = self._read_unencrypted(CERTIFICATE, str(metadata["certificate_key_id"]))
            return [CertificateKeyRecord.of(key, date.today())]
        return self._records(metadata)

    def public_keyring(self, today: date | None = None) -> IssuerKeyring:
        """What readers need, from ``issuer.json`` alone: no passphrase involved.

        Keys whose last possible card has expired are left out.
        """
        today = today or date.today()
        try:
            return IssuerKeyring(r.public() for r in self.certificate_keys() if r.usable_on(today))
        except (ValueError, CertificateError) as exc:
            raise IssuerError(f"{self.metadata_path}: bad public key: {exc}") from None

    def export_public(self, today: date | None = None) -> dict[str, Any]:
        """The reader keyring (``kentcard-issuer-keyring/1``) with each key's validity.

        Readers load it with :meth:`IssuerKeyring.from_json`, which ignores the extra
        validity fields. Public keys only: nothing here can sign.
        """
        today = today or date.today()
        document = self.public_keyring(today).to_json()
        validity = {r.key_id: r.as_json() for r in self.certificate_keys()}
        for entry in document["keys"]:
            record = validity[entry["key_id"]]
            entry.update(
                valid_from=record["valid_from"],
                signs_until=record["signs_until"],
                verify_until=record["verify_until"],
            )
        document["snapshot_keys"] = [
            record.as_json() for record in self.snapshot_keys() if record.usable_on(today)
        ]
        return document

    def snapshot_keys(self) -> list[CertificateKeyRecord]:
        """Every snapshot key recorded, oldest first (public halves only)."""
        metadata = self._metadata()
        try:
            return [CertificateKeyRecord.from_json(e) for e in metadata.get("snapshot_keys", [])]
        except (KeyError, TypeError, ValueError) as exc:
            raise IssuerError(f"{self.metadata_path}: bad snapshot key entry: {exc}") from None

    def load_snapshot_key(self) -> ec.EllipticCurvePrivateKey:
        """The private key that signs offline lists (passphrase or hook, as the others)."""
        metadata = self._metadata()
        key_id = metadata.get("snapshot_key_id")
        if not key_id:
            raise IssuerError(
                f"the issuer in {self.folder} has no snapshot key yet: run "
                "`kentcard issuer rotate --key snapshot` once to make it"
            )
        if metadata.get("protection") == "hook" and self.protection.hook is None:
            raise IssuerLocked(
                f"the issuer keys in {self.folder} are held by a key-management hook: set "
                "KENTCARD_ISSUER_KEY_HOOK before offline lists can be signed"
            )
        return self._read(SNAPSHOT, str(key_id))

    def _read_unencrypted(self, role: str, key_id: str) -> ec.EllipticCurvePrivateKey:
        path = self._key_path(role, key_id)
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except FileNotFoundError:
            raise IssuerError(f"the {role} key {path} is missing") from None
        except TypeError:
            raise IssuerError(f"{path} is already encrypted") from None
        return _check_p256(key, str(path))

    def _read(self, role: str, key_id: str) -> ec.EllipticCurvePrivateKey:
        protection = self.protection
        if protection.hook is not None:
            try:
                key = protection.hook(role)
            except Exception as exc:  # whatever the key manager raises, say which failed
                raise IssuerLocked(
                    f"the key-management hook ({protection.source}) did not return the "
                    f"{role} key: {exc}"
                ) from exc
            key = _check_p256(key, f"the {role} key from {protection.source}")
            found = key_id_of(key.public_key()).hex()
            if found != key_id:
                raise IssuerLocked(
                    f"the key-management hook returns {role} key {found}, but the issuer's "
                    f"current {role} key is {key_id}. After creating a new certificate key "
                    "in the key manager, run `kentcard issuer rotate` to record it"
                )
            return key
        path = self._key_path(role, key_id)
        if protection.passphrase is None:
            raise IssuerLocked(
                f"the issuer keys in {self.folder} are encrypted and no passphrase is set: "
                "set KENTCARD_ISSUER_PASSPHRASE or KENTCARD_ISSUER_PASSPHRASE_FILE (or "
                "KENTCARD_ISSUER_KEY_HOOK) before cards can be signed"
            )
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise IssuerError(f"the {role} key {path} is missing") from None
        try:
            opened = serialization.load_pem_private_key(data, password=protection.passphrase)
        except TypeError:
            raise IssuerError(
                f"{path} is not encrypted: run `kentcard issuer encrypt` to encrypt it"
            ) from None
        except ValueError:
            raise IssuerLocked(
                f"the issuer passphrase from {protection.source or 'the settings'} does not "
                f"open {path}: check the passphrase; cards cannot be signed until it is right"
            ) from None
        return _check_p256(opened, str(path))

    def load(self, today: date | None = None) -> Issuer:
        """The private keys, opened with the passphrase (or from the hook)."""
        metadata = self._metadata()
        if metadata["format"] == FORMAT_V1:
            raise IssuerLocked(
                f"the issuer keys in {self.folder} are stored unencrypted, so cards are not "
                "signed with them. Set KENTCARD_ISSUER_PASSPHRASE (or "
                "KENTCARD_ISSUER_PASSPHRASE_FILE) and run `kentcard issuer encrypt` once"
            )
        if metadata.get("protection") == "hook" and self.protection.hook is None:
            raise IssuerLocked(
                f"the issuer keys in {self.folder} are held by a key-management hook: set "
                "KENTCARD_ISSUER_KEY_HOOK to the same module:callable before cards can be signed"
            )
        cert_id = str(metadata["certificate_key_id"])
        perso_id = str(metadata["personalisation_key_id"])
        today = today or date.today()
        previous = tuple(
            record.public()
            for record in self._records(metadata)
            if record.key_id != cert_id and record.usable_on(today)
        )
        issuer = Issuer(
            self._read(CERTIFICATE, cert_id),
            PersonalisationKey(self._read(PERSONALISATION, perso_id)),
            previous,
        )
        if issuer.certificate_key_id.hex() != cert_id:
            raise IssuerError("certificate key does not match its key id")
        if issuer.personalisation_key.key_id.hex() != perso_id:
            raise IssuerError("personalisation key does not match its key id")
        return issuer

    # -- writing ---------------------------------------------------------------------------

    def _writing_passphrase(self) -> bytes:
        passphrase = self.protection.passphrase
        if passphrase is None:
            raise IssuerLocked(
                "set KENTCARD_ISSUER_PASSPHRASE or KENTCARD_ISSUER_PASSPHRASE_FILE: issuer "
                "private keys are only written encrypted"
            )
        if len(passphrase) < MIN_PASSPHRASE:
            raise IssuerLocked(
                f"the issuer passphrase must be at least {MIN_PASSPHRASE} characters long"
            )
        return passphrase

    def _save_metadata(
        self,
        cert_id: str,
        perso_id: str,
        records: Iterable[CertificateKeyRecord],
        snapshot: tuple[str, Iterable[CertificateKeyRecord]] | None = None,
    ) -> None:
        """Write issuer.json; the snapshot keys are kept as they are unless given."""
        metadata: dict[str, Any] = {
            "format": FORMAT,
            "protection": "hook" if self.protection.hook else "pkcs8-passphrase",
            "certificate_key_id": cert_id,
            "personalisation_key_id": perso_id,
            "certificate_keys": [record.as_json() for record in records],
        }
        if snapshot is not None:
            metadata["snapshot_key_id"] = snapshot[0]
            metadata["snapshot_keys"] = [record.as_json() for record in snapshot[1]]
        elif self.exists():
            before = self._metadata()
            for name in ("snapshot_key_id", "snapshot_keys"):
                if name in before:
                    metadata[name] = before[name]
        _write_file(self.metadata_path, (json.dumps(metadata, indent=2) + "\n").encode(), 0o644)

    def _store_key(self, role: str, key: ec.EllipticCurvePrivateKey) -> str:
        key_id = key_id_of(key.public_key()).hex()
        if self.protection.hook is None:
            _write_file(self._key_path(role, key_id), _pem(key, self._writing_passphrase()))
        return key_id

    def _new_key(self, role: str) -> ec.EllipticCurvePrivateKey:
        hook = self.protection.hook
        if hook is None:
            return ec.generate_private_key(ec.SECP256R1())
        return self._read_hook_any(hook, role)

    def _read_hook_any(self, hook: KeyHook, role: str) -> ec.EllipticCurvePrivateKey:
        try:
            key = hook(role)
        except Exception as exc:
            raise IssuerLocked(
                f"the key-management hook ({self.protection.source}) did not return the "
                f"{role} key: {exc}"
            ) from exc
        return _check_p256(key, f"the {role} key from {self.protection.source}")

    def init(self, today: date | None = None) -> Issuer:
        """Create both keys (or record the hook's); refuses to overwrite an existing issuer."""
        if self.exists():
            raise IssuerError(f"an issuer already exists in {self.folder}")
        if self.protection.hook is None:
            self._writing_passphrase()  # before anything is written
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.folder.chmod(0o700)
        today = today or date.today()
        certificate_key = self._new_key(CERTIFICATE)
        personalisation_key = self._new_key(PERSONALISATION)
        cert_id = self._store_key(CERTIFICATE, certificate_key)
        perso_id = self._store_key(PERSONALISATION, personalisation_key)
        snapshot = None
        if self.protection.hook is None:
            snapshot_key = self._new_key(SNAPSHOT)
            snapshot_id = self._store_key(SNAPSHOT, snapshot_key)
            snapshot = (snapshot_id, [CertificateKeyRecord.of(snapshot_key, today)])
        # With a key manager, the snapshot key is recorded by `issuer rotate --key snapshot`
        # once the manager holds one.
        self._save_metadata(
            cert_id, perso_id, [CertificateKeyRecord.of(certificate_key, today)], snapshot
        )
        return Issuer(certificate_key, PersonalisationKey(personalisation_key))

    def rotate_snapshot_key(
        self, overlap_days: int = SNAPSHOT_KEY_OVERLAP_DAYS, today: date | None = None
    ) -> ec.EllipticCurvePrivateKey:
        """Make (or take from the key manager) a new snapshot key, which signs from now on.

        The key it replaces, if any, verifies for ``overlap_days`` more days. The first
        call on an issuer made before snapshot keys existed simply makes the first one.
        """
        today = today or date.today()
        metadata = self._metadata()
        if metadata["format"] == FORMAT_V1:
            raise IssuerError(f"encrypt the issuer keys in {self.folder} first")
        old_id = metadata.get("snapshot_key_id")
        if self.protection.hook is None:
            self.load(today)  # proves the passphrase before anything changes
            new_key = self._new_key(SNAPSHOT)
        else:
            new_key = self._read_hook_any(self.protection.hook, SNAPSHOT)
            if key_id_of(new_key.public_key()).hex() == old_id:
                raise IssuerError(
                    f"the key-management hook still returns snapshot key {old_id}: "
                    "create the new key in the key manager first"
                )
        new_id = self._store_key(SNAPSHOT, new_key)
        until = date.fromordinal(today.toordinal() + overlap_days)
        records = [
            CertificateKeyRecord(r.key_id, r.public_key, r.valid_from, today, until)
            if r.key_id == old_id
            else r
            for r in self.snapshot_keys()
        ]
        records.append(CertificateKeyRecord.of(new_key, today))
        self._save_metadata(
            str(metadata["certificate_key_id"]),
            str(metadata["personalisation_key_id"]),
            self._records(metadata),
            (new_id, records),
        )
        return new_key

    def rotate(self, card_validity_days: int, today: date | None = None) -> Issuer:
        """A new certificate key signs from now on; the old one verifies its cards.

        ``card_validity_days`` is the longest a card can be valid for from the day it is
        issued: the old key stays in the keyring until then.
        """
        today = today or date.today()
        metadata = self._metadata()
        old_id = str(metadata["certificate_key_id"])
        if self.protection.hook is None:
            # Opening the current keys proves the passphrase before anything changes.
            personalisation = self.load(today).personalisation_key
            new_key = ec.generate_private_key(ec.SECP256R1())
        else:
            # The key manager already holds the new certificate key; the personalisation
            # key must still be the recorded one.
            perso_id = str(metadata["personalisation_key_id"])
            personalisation = PersonalisationKey(self._read(PERSONALISATION, perso_id))
            new_key = self._read_hook_any(self.protection.hook, CERTIFICATE)
            if key_id_of(new_key.public_key()).hex() == old_id:
                raise IssuerError(
                    f"the key-management hook still returns certificate key {old_id}: "
                    "create the new key in the key manager first"
                )
        new_id = self._store_key(CERTIFICATE, new_key)
        until = date.fromordinal(today.toordinal() + card_validity_days)
        records = [
            CertificateKeyRecord(r.key_id, r.public_key, r.valid_from, today, until)
            if r.key_id == old_id
            else r
            for r in self._records(metadata)
        ]
        records.append(CertificateKeyRecord.of(new_key, today))
        self._save_metadata(new_id, str(metadata["personalisation_key_id"]), records)
        previous = tuple(r.public() for r in records if r.key_id != new_id and r.usable_on(today))
        return Issuer(new_key, personalisation, previous)

    def encrypt(self, today: date | None = None) -> Issuer:
        """Migrate a ``kentcard-issuer/1`` folder: encrypt both keys in place."""
        metadata = self._metadata()
        if metadata["format"] != FORMAT_V1:
            raise IssuerError(f"the issuer keys in {self.folder} are already encrypted")
        passphrase = self._writing_passphrase()
        cert_id = str(metadata["certificate_key_id"])
        perso_id = str(metadata["personalisation_key_id"])
        keys = {role: self._read_unencrypted(role, key_id) for role, key_id in
                ((CERTIFICATE, cert_id), (PERSONALISATION, perso_id))}  # fmt: skip
        for role, key in keys.items():
            key_id = cert_id if role == CERTIFICATE else perso_id
            _write_file(self._key_path(role, key_id), _pem(key, passphrase))
        record = CertificateKeyRecord.of(keys[CERTIFICATE], today or date.today())
        self._save_metadata(cert_id, perso_id, [record])
        return self.load(today)
