"""Signed offline lists for reader tests, made the way the service makes them.

:class:`ListSigner` signs full lists and deltas for one mode with a snapshot key; the
delta between two full lists comes from the builder's own :func:`diff`, so the reader is
tested against what the service really sends.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from cryptography.hazmat.primitives.asymmetric import ec

from cardio.certificate import key_id_of
from cardio.snapshot_format import (
    DELTA,
    FULL,
    RECORD_LENGTH,
    Service,
    SnapshotHeader,
    day_number,
    encode,
    hotlist_record,
    pack_record,
    state_digest,
)
from idservice.snapshots.changes import diff

TRANSPORT = (
    Service("bus-pass-older", "Older person's bus pass"),
    Service("bus-pass-disabled", "Disabled person's bus pass"),
)
LIBRARY = (Service("library", "Library membership"),)
CREATED = datetime(2026, 1, 15, 6, 0, tzinfo=UTC)


def grant(fp: bytes, service: int, first: date | None = None, last: date | None = None) -> bytes:
    return pack_record(fp, service, day_number(first, end=False), day_number(last, end=True))


def hotlist(fp: bytes, reason: str) -> bytes:
    return hotlist_record(fp, reason)


def body(*records: bytes) -> bytes:
    return b"".join(sorted(records))


class ListSigner:
    def __init__(
        self,
        mode: str = "transport",
        key: ec.EllipticCurvePrivateKey | None = None,
        services: tuple[Service, ...] = TRANSPORT,
    ) -> None:
        self.mode = mode
        self.key = key or ec.generate_private_key(ec.SECP256R1())
        self.services = services

    @property
    def key_id(self) -> str:
        return key_id_of(self.key.public_key()).hex()

    def header(self, kind: str, version: int, base: int | None, **fields: object) -> SnapshotHeader:
        values: dict[str, object] = {
            "kind": kind,
            "mode": self.mode,
            "version": version,
            "base_version": base,
            "created_at": CREATED,
            "key_id": self.key_id,
            "services": self.services,
            "removed": 0,
            "records": 0,
            "state_sha256": state_digest(b""),
        }
        values.update(fields)
        return SnapshotHeader(**values)  # type: ignore[arg-type]

    def full(self, version: int, records: bytes, **fields: object) -> bytes:
        header = self.header(
            FULL,
            version,
            None,
            records=len(records) // RECORD_LENGTH,
            state_sha256=state_digest(records),
            **fields,
        )
        return encode(header, b"", records, self.key)

    def delta(self, base: int, version: int, old: bytes, new: bytes, **fields: object) -> bytes:
        change = diff(old, new)
        values: dict[str, object] = {
            "removed": len(change.removed) // 8,
            "records": len(change.records) // RECORD_LENGTH,
            "state_sha256": state_digest(new),
        }
        values.update(fields)
        header = self.header(DELTA, version, base, **values)
        return encode(header, change.removed, change.records, self.key)

    def public_export(self) -> dict[str, object]:
        """What ``kentcard issuer export-public`` gives a reader (snapshot keys only)."""
        from cardio.certificate import point_of

        return {
            "format": "kentcard-issuer-keyring/1",
            "keys": [],
            "snapshot_keys": [
                {"key_id": self.key_id, "public_key": point_of(self.key.public_key()).hex()}
            ],
        }
