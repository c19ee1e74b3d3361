"""The virtual card's persistent memory (its EEPROM): a JSON file written atomically.

Every change is written to a temporary file, fsynced, renamed over the old file and the
folder fsynced, so a power cut leaves either the old state or the new one, never half of
each. PIN tries are written *before* the PIN is compared, as a real card does, so pulling
the card mid-VERIFY cannot earn an extra try.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cardio import spec

FORMAT = "kentcard-virtual-card/1"


class CardStateError(ValueError):
    """The state file is missing or malformed."""


@dataclass
class CardState:
    """Everything a card keeps across power-off."""

    admin_public_point: bytes  # the issuer's personalisation key, set at application install
    life_cycle: int = spec.LifeCycle.PERSONALISING
    private_key: bytes | None = None  # the card's own P-256 scalar; never leaves the card
    card_data: bytes | None = None  # 5A || 5F24 TLVs
    certificate: bytes | None = None  # 7F21 TLV
    pin_block: bytes | None = None
    pin_tries_left: int = spec.PIN_TRIES

    def to_json(self) -> dict[str, Any]:
        def hex_or_none(value: bytes | None) -> str | None:
            return value.hex() if value is not None else None

        return {
            "format": FORMAT,
            "admin_public_point": self.admin_public_point.hex(),
            "life_cycle": self.life_cycle,
            "private_key": hex_or_none(self.private_key),
            "card_data": hex_or_none(self.card_data),
            "certificate": hex_or_none(self.certificate),
            "pin_block": hex_or_none(self.pin_block),
            "pin_tries_left": self.pin_tries_left,
        }

    @classmethod
    def from_json(cls, document: Any) -> CardState:
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise CardStateError(f"not a {FORMAT} document")

        def raw(name: str) -> bytes | None:
            value = document.get(name)
            return bytes.fromhex(value) if value is not None else None

        try:
            admin = raw("admin_public_point")
            if admin is None:
                raise CardStateError("admin_public_point missing")
            return cls(
                admin_public_point=admin,
                life_cycle=int(document["life_cycle"]),
                private_key=raw("private_key"),
                card_data=raw("card_data"),
                certificate=raw("certificate"),
                pin_block=raw("pin_block"),
                pin_tries_left=int(document["pin_tries_left"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CardStateError(f"bad card state: {exc}") from exc


class CardStateFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> CardState:
        try:
            return CardState.from_json(json.loads(self.path.read_text()))
        except FileNotFoundError:
            raise CardStateError(f"no card state at {self.path}") from None
        except json.JSONDecodeError as exc:
            raise CardStateError(f"{self.path} is not JSON: {exc}") from exc

    def save(self, state: CardState) -> None:
        folder = self.path.parent
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{self.path.name}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(state.to_json(), handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
