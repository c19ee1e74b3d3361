"""A reader's offline list: verify a signed snapshot, apply it, keep the last good one.

The reader side of ``kentcard-offline-list/1`` (format: :mod:`cardio.snapshot_format`,
specification: docs/readers.md). Four steps, each usable alone by whoever syncs:

- :func:`verify` checks a snapshot's form, mode and signature against the snapshot keys
  the reader trusts (:class:`SnapshotKeyring`, from ``kentcard issuer export-public``);
- :func:`apply` puts a verified full list or delta on top of the list held, refusing one
  that does not follow it (an older version, a delta from another base) or that does not
  reproduce the state the service signed;
- :class:`SnapshotStore` keeps the result on disk, whole or not at all, and keeps the
  last good list when a snapshot is refused (:class:`SnapshotRefused` says why);
- :class:`OfflineList` answers which records the list holds for a card
  (:meth:`OfflineList.lookup`), for :mod:`cardio.offline` to decide a tap.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import struct
import time
from array import array
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import Enum
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from cardio.certificate import CertificateError, key_id_of, public_key_from_point, verify_raw
from cardio.snapshot_format import (
    DELTA,
    FINGERPRINT_LENGTH,
    FULL,
    RECORD,
    RECORD_LENGTH,
    Service,
    SignedSnapshot,
    SnapshotFormatError,
    decode,
    first_at_or_after,
    group_by_card,
)

STATE_MAGIC = b"KCSTATE1"
#: How often a running reader looks whether another process replaced its list file.
RELOAD_CHECK_SECONDS = 1.0
_LENGTH = struct.Struct(">I")
#: A record read as (fingerprint as a number, the rest).
_FINGERPRINTS = struct.Struct(f">Q{RECORD_LENGTH - FINGERPRINT_LENGTH}x")


class Refusal(Enum):
    """Why a snapshot was refused; value = (code, words)."""

    BAD_FORMAT = ("bad_format", "not a well-formed offline list")
    WRONG_MODE = ("wrong_mode", "an offline list for another reader mode")
    UNKNOWN_KEY = ("unknown_key", "signed with a key this reader does not trust")
    BAD_SIGNATURE = ("bad_signature", "the signature does not verify: altered or forged")
    OLDER_VERSION = ("older_version", "older than the offline list this reader holds")
    OUT_OF_ORDER = ("out_of_order", "does not follow the offline list this reader holds")
    STATE_MISMATCH = (
        "state_mismatch",
        "applied to the list held it does not give the list the service signed",
    )

    @property
    def code(self) -> str:
        return self.value[0]

    @property
    def words(self) -> str:
        return self.value[1]


class SnapshotRefused(Exception):
    """A snapshot the reader will not use; the list held before stays in use."""

    def __init__(self, refusal: Refusal, detail: str = "") -> None:
        super().__init__(refusal.words + (f" ({detail})" if detail else ""))
        self.refusal = refusal
        self.detail = detail

    @property
    def code(self) -> str:
        return self.refusal.code


class SnapshotKeyringError(ValueError):
    """The snapshot keys cannot be read."""


class SnapshotKeyring:
    """The snapshot public keys a reader trusts, by key id (16 hex digits).

    Read from the issuer's public export (``kentcard issuer export-public``), whose
    ``snapshot_keys`` list them; its ``keys`` (card certificate keys) are not used here,
    so a card certificate key can never vouch for a snapshot, nor the other way round.
    """

    def __init__(self, keys: Iterable[ec.EllipticCurvePublicKey] = ()) -> None:
        self._keys = {key_id_of(key).hex(): key for key in keys}

    def get(self, key_id: str) -> ec.EllipticCurvePublicKey | None:
        return self._keys.get(key_id)

    def __len__(self) -> int:
        return len(self._keys)

    @classmethod
    def from_json(cls, document: Any) -> SnapshotKeyring:
        if not isinstance(document, dict):
            raise SnapshotKeyringError("the issuer's public export is not a JSON object")
        entries = document.get("snapshot_keys", [])
        if not isinstance(entries, list):
            raise SnapshotKeyringError("snapshot_keys must be a list")
        keys = []
        for entry in entries:
            try:
                key = public_key_from_point(bytes.fromhex(entry["public_key"]))
                if key_id_of(key).hex() != entry["key_id"]:
                    raise ValueError(f"key id {entry['key_id']} does not match its public key")
            except (KeyError, TypeError, ValueError, CertificateError) as exc:
                raise SnapshotKeyringError(f"bad snapshot key entry: {exc}") from None
            keys.append(key)
        return cls(keys)

    @classmethod
    def load(cls, path: Path) -> SnapshotKeyring:
        try:
            return cls.from_json(json.loads(path.read_text()))
        except FileNotFoundError:
            raise SnapshotKeyringError(
                f"no issuer keys at {path}: run `kentcard issuer export-public --out FILE` "
                "on the issuer machine and copy the file to the reader"
            ) from None
        except json.JSONDecodeError as exc:
            raise SnapshotKeyringError(f"{path} is not JSON: {exc}") from None


@dataclass(frozen=True)
class ListRecord:
    """One record the list holds for a card: a service index or a hotlist code, and days."""

    code: int
    first: int
    last: int


@dataclass(frozen=True)
class OfflineList:
    """The full list a reader holds at one version: sorted records and what names them."""

    mode: str
    version: int
    created_at: datetime
    services: tuple[Service, ...]
    records: bytes
    state_sha256: str
    key_id: str
    #: Each record's fingerprint as a number, for a binary search in C (built once).
    _index: array[int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        numbers = array("Q", (row[0] for row in _FINGERPRINTS.iter_unpack(self.records)))
        object.__setattr__(self, "_index", numbers)

    def __len__(self) -> int:
        return len(self.records) // RECORD_LENGTH

    def lookup(self, fp: bytes) -> list[ListRecord]:
        """Every record for the card whose key fingerprint is ``fp`` (a binary search)."""
        records = self.records
        at = bisect_left(self._index, int.from_bytes(fp, "big")) * RECORD_LENGTH
        found = []
        while at < len(records) and records[at : at + FINGERPRINT_LENGTH] == fp:
            _, code, first, last = RECORD.unpack_from(records, at)
            found.append(ListRecord(code, first, last))
            at += RECORD_LENGTH
        return found

    def age_seconds(self, now: datetime) -> float:
        """How old the list is by the reader's clock (never below zero)."""
        return max(0.0, (now - self.created_at).total_seconds())

    def describe(self) -> str:
        return (
            f"{self.mode} offline list version {self.version}, made "
            f"{self.created_at.strftime('%Y-%m-%d %H:%M UTC')}, {len(self)} records"
        )


def verify(blob: bytes, keyring: SnapshotKeyring, mode: str) -> SignedSnapshot:
    """A snapshot whose form, mode and signature are good; else :class:`SnapshotRefused`."""
    try:
        snapshot = decode(blob)
    except SnapshotFormatError as exc:
        raise SnapshotRefused(Refusal.BAD_FORMAT, str(exc)) from None
    header = snapshot.header
    if header.mode != mode:
        raise SnapshotRefused(Refusal.WRONG_MODE, f"{header.mode}, not {mode}")
    key = keyring.get(header.key_id)
    if key is None:
        raise SnapshotRefused(Refusal.UNKNOWN_KEY, f"key id {header.key_id}")
    if not verify_raw(key, snapshot.signature, snapshot.signed):
        raise SnapshotRefused(Refusal.BAD_SIGNATURE)
    return snapshot


def _merge(held: bytes, delta: SignedSnapshot) -> bytes:
    """``held`` with every card the delta names replaced by the delta's records for it."""
    replacing = dict(group_by_card(delta.records))
    if any(fp in replacing for fp in delta.removed_fingerprints()):
        raise SnapshotRefused(Refusal.BAD_FORMAT, "a card is both removed and listed")
    changed = sorted({*replacing, *delta.removed_fingerprints()})
    parts: list[bytes] = []
    position = 0  # a record index into held
    for fp in changed:
        start = first_at_or_after(held, fp, position)
        parts.append(held[position * RECORD_LENGTH : start * RECORD_LENGTH])
        end = start
        while held[end * RECORD_LENGTH : end * RECORD_LENGTH + FINGERPRINT_LENGTH] == fp:
            end += 1
        parts.append(replacing.get(fp, b""))
        position = end
    parts.append(held[position * RECORD_LENGTH :])
    return b"".join(parts)


def _as_list(snapshot: SignedSnapshot, records: bytes) -> OfflineList:
    header = snapshot.header
    if hashlib.sha256(records).hexdigest() != header.state_sha256:
        raise SnapshotRefused(
            Refusal.STATE_MISMATCH, f"version {header.version}: ask the service for a full list"
        )
    return OfflineList(
        mode=header.mode,
        version=header.version,
        created_at=header.created_at,
        services=header.services,
        records=records,
        state_sha256=header.state_sha256,
        key_id=header.key_id,
    )


def apply(held: OfflineList | None, snapshot: SignedSnapshot) -> OfflineList:
    """The list after ``snapshot`` (already verified), or :class:`SnapshotRefused`.

    A full list must be newer than the one held (the same version and state is a no-op);
    a delta must start at the version held and keep its services; neither may be made
    before the list held. Whatever the result, it must hash to the state the service
    signed (``state_sha256``).
    """
    header = snapshot.header
    if held is not None:
        if header.version < held.version:
            raise SnapshotRefused(
                Refusal.OLDER_VERSION, f"version {header.version}, holding {held.version}"
            )
        if header.version == held.version and header.state_sha256 != held.state_sha256:
            raise SnapshotRefused(
                Refusal.OUT_OF_ORDER, f"another list with the version {held.version} held"
            )
        if header.created_at < held.created_at:
            raise SnapshotRefused(
                Refusal.OUT_OF_ORDER, f"version {header.version} was made before the list held"
            )
    if header.kind == FULL:
        if held is not None and header.version == held.version:
            return held
        return _as_list(snapshot, snapshot.records)
    if held is None:
        raise SnapshotRefused(Refusal.OUT_OF_ORDER, "a delta needs a full list first")
    if header.base_version != held.version:
        raise SnapshotRefused(
            Refusal.OUT_OF_ORDER,
            f"a delta from version {header.base_version}, holding {held.version}",
        )
    if header.services != held.services:
        raise SnapshotRefused(Refusal.OUT_OF_ORDER, "a delta may not change the services")
    if header.version == held.version:
        return held
    return _as_list(snapshot, _merge(held.records, snapshot))


@dataclass(frozen=True)
class Accepted:
    """What a snapshot did: the list now held and one line saying what changed."""

    held: OfflineList
    change: str


def _write_whole(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    with contextlib.suppress(OSError):  # not every platform can fsync a folder
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


class SnapshotStore:
    """``<reader folder>/offline-<mode>.kcstate``: the list held, as the service signed it.

    The file is the last snapshot accepted (full or delta, signature and all) followed by
    the full list's records when that snapshot was a delta; loading verifies the signature
    again and that the records hash to the signed ``state_sha256``. Replaced whole or not
    at all, so a reader killed mid-write keeps its last good list.
    """

    def __init__(self, folder: Path, mode: str, keyring: SnapshotKeyring) -> None:
        self.folder = folder
        self.mode = mode
        self.keyring = keyring
        self.current: OfflineList | None = None
        #: Why the last snapshot (or the file at load) was refused, for status displays.
        self.last_refusal: SnapshotRefused | None = None
        self._stamp: tuple[int, int, int] | None = None
        self._checked = 0.0

    @property
    def path(self) -> Path:
        return self.folder / f"offline-{self.mode}.kcstate"

    def load(self) -> OfflineList | None:
        """Read the list held on disk (None if there is none); refused ones raise."""
        try:
            self._stamp = self._stat()
            data = self.path.read_bytes()
        except FileNotFoundError:
            self.current = None
            return None
        if data[:8] != STATE_MAGIC or len(data) < 12:
            raise self._refused(SnapshotRefused(Refusal.BAD_FORMAT, f"{self.path} is damaged"))
        (length,) = _LENGTH.unpack_from(data, 8)
        blob, records = data[12 : 12 + length], data[12 + length :]
        try:
            snapshot = verify(blob, self.keyring, self.mode)
            if snapshot.kind == FULL and not records:
                records = snapshot.records
            self.current = _as_list(snapshot, records)
        except SnapshotRefused as refused:
            raise self._refused(refused) from None
        return self.current

    def _stat(self) -> tuple[int, int, int]:
        found = os.stat(self.path)
        return (found.st_ino, found.st_mtime_ns, found.st_size)

    def reload_if_changed(self) -> None:
        """Load the file again if another process (``kentcard reader snapshot load``, a
        sync) replaced it; a refused file leaves the list held in use. Looks at most once
        a second, so a tap pays for no system call."""
        checked = time.monotonic()
        if checked - self._checked < RELOAD_CHECK_SECONDS:
            return
        self._checked = checked
        try:
            stamp = self._stat()
        except FileNotFoundError:
            return
        if stamp != self._stamp:
            held = self.current
            try:
                self.load()
            except SnapshotRefused:
                self.current = held

    def _refused(self, refused: SnapshotRefused) -> SnapshotRefused:
        self.last_refusal = refused
        return refused

    def accept(self, blob: bytes) -> Accepted:
        """Verify and apply a snapshot, then keep the result; refused ones change nothing."""
        held = self.current
        try:
            snapshot = verify(blob, self.keyring, self.mode)
            result = apply(held, snapshot)
        except SnapshotRefused as refused:
            raise self._refused(refused) from None
        if result is held:
            return Accepted(result, f"version {result.version} already held")
        if snapshot.kind == DELTA:
            extra = result.records
            change = (
                f"delta {snapshot.header.base_version} -> {result.version}: "
                f"{snapshot.header.removed} removed, {snapshot.header.records} records"
            )
        else:
            extra = b""
            change = f"full list version {result.version}: {len(result)} records"
        self.folder.mkdir(parents=True, exist_ok=True)
        _write_whole(self.path, STATE_MAGIC + _LENGTH.pack(len(blob)) + blob + extra)
        self._stamp = self._stat()
        self.current = result
        self.last_refusal = None
        return Accepted(result, change)


def utcnow() -> datetime:
    return datetime.now(UTC)


def today_utc() -> date:
    return utcnow().date()
