"""Issuer public keys a reader trusts, by key id: the only key material a reader holds.

Rotation: a new issuer key is added as ``active`` (it signs new certificates); older keys
stay as ``verify-only`` until the last card they signed has expired, then are removed. A
compromised key is removed at once, and every card it signed fails as "unknown issuer".

File format (JSON, ``<instance>/reader/issuer-keys.json``)::

    {"format": "kentcard-issuer-keyring/1",
     "keys": [{"key_id": "<16 hex>", "public_key": "<130 hex: 04 || X || Y>",
               "status": "active" | "verify-only"}]}
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from cardio.certificate import CertificateError, key_id_of, point_of, public_key_from_point

FORMAT = "kentcard-issuer-keyring/1"
STATUSES = ("active", "verify-only")


class KeyringError(ValueError):
    """The keyring file is malformed or inconsistent."""


@dataclass(frozen=True)
class IssuerPublicKey:
    key_id: bytes
    public_key: ec.EllipticCurvePublicKey
    status: str = "active"


class IssuerKeyring:
    """Issuer public keys by key id."""

    def __init__(self, keys: Iterable[IssuerPublicKey] = ()) -> None:
        self._keys: dict[bytes, IssuerPublicKey] = {}
        for key in keys:
            self.add(key)

    def add(self, key: IssuerPublicKey) -> None:
        if key.status not in STATUSES:
            raise KeyringError(f"unknown key status {key.status!r}")
        if key_id_of(key.public_key) != key.key_id:
            raise KeyringError(f"key id {key.key_id.hex()} does not match its public key")
        self._keys[key.key_id] = key

    def get(self, key_id: bytes) -> IssuerPublicKey | None:
        return self._keys.get(key_id)

    def __len__(self) -> int:
        return len(self._keys)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "keys": [
                {
                    "key_id": key.key_id.hex(),
                    "public_key": point_of(key.public_key).hex(),
                    "status": key.status,
                }
                for key in self._keys.values()
            ],
        }

    @classmethod
    def from_json(cls, document: Any) -> IssuerKeyring:
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise KeyringError(f"not a {FORMAT} document")
        entries = document.get("keys")
        if not isinstance(entries, list):
            raise KeyringError("keys must be a list")
        keyring = cls()
        for entry in entries:
            try:
                point = bytes.fromhex(entry["public_key"])
                keyring.add(
                    IssuerPublicKey(
                        key_id=bytes.fromhex(entry["key_id"]),
                        public_key=public_key_from_point(point),
                        status=entry.get("status", "active"),
                    )
                )
            except (KeyError, TypeError, ValueError, CertificateError) as exc:
                raise KeyringError(f"bad keyring entry: {exc}") from exc
        return keyring

    @classmethod
    def load(cls, path: Path) -> IssuerKeyring:
        try:
            return cls.from_json(json.loads(path.read_text()))
        except FileNotFoundError:
            raise KeyringError(
                f"no issuer keyring at {path}: run `kentcard issuer init` on the issuer "
                "machine and copy the keyring to the reader"
            ) from None
        except json.JSONDecodeError as exc:
            raise KeyringError(f"{path} is not JSON: {exc}") from exc

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        os.replace(tmp, path)
