"""Building the signed offline lists: one new version per reader mode per run.

:func:`build_mode` does one mode over a database connection: it reads the card register
(active cards' current entitlements for the mode's services, and every hotlisted or
replaced card not yet expired), makes the sorted records, signs the full list, diffs it
against the previous version's full list, and signs the deltas that bring each recent
version to this one (folding the stored change records together), so the API only ever
serves stored bytes. :func:`build_snapshots` runs it for the app, in one transaction, with
the issuer's snapshot key.

Versions only go up: the next version is the larger of the last one plus one and the
build time in seconds since the epoch, so a database restored from a backup still hands
out versions above any a reader already holds (readers refuse older versions).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from cryptography.hazmat.primitives.asymmetric import ec
from flask import current_app
from sqlalchemy import Connection

from cardio.certificate import key_id_of
from cardio.snapshot_format import (
    DELTA,
    FINGERPRINT_LENGTH,
    FULL,
    RECORD_LENGTH,
    Service,
    SnapshotHeader,
    decode,
    encode,
    state_digest,
)
from entitlements.catalogue import load_catalogue
from idservice.cards.decisions import MODE_SERVICES
from idservice.cards.issuer_keys import issuer_store
from idservice.db import db_session, transactional
from idservice.snapshots import dao
from idservice.snapshots.changes import Change, Composer, diff, records_from_rows

#: How many earlier versions get a delta straight to the latest; a reader further behind
#: (or one whose delta would be bigger than the full list) gets the full list.
KEEP_DELTAS = 48


@dataclass(frozen=True)
class Built:
    """One version built: its counts, its signed full list and its delta from the last."""

    mode: str
    version: int
    base_version: int | None
    created_at: datetime
    records: int
    hotlisted: int
    changed: int
    full: bytes
    delta: bytes | None
    deltas: int
    seconds: float


@functools.cache
def mode_services(mode: str) -> tuple[Service, ...]:
    """The services a mode's records index, best first, with their catalogue names."""
    catalogue = load_catalogue()
    return tuple(Service(code, catalogue.get(code).name) for code in MODE_SERVICES[mode])


def next_version(latest: int | None, now: datetime) -> int:
    return max((latest or 0) + 1, int(now.timestamp()))


class _Signer:
    """Signs this build's lists: the header fields every one of them shares."""

    def __init__(
        self,
        mode: str,
        version: int,
        created_at: datetime,
        key: ec.EllipticCurvePrivateKey,
        digest: str,
    ) -> None:
        self.mode, self.version, self.created_at, self.key = mode, version, created_at, key
        self.key_id = key_id_of(key.public_key()).hex()
        self.services = mode_services(mode)
        self.digest = digest

    def sign(self, kind: str, base: int | None, removed: bytes, records: bytes) -> bytes:
        header = SnapshotHeader(
            kind=kind,
            mode=self.mode,
            version=self.version,
            base_version=base,
            created_at=self.created_at,
            key_id=self.key_id,
            services=self.services,
            removed=len(removed) // FINGERPRINT_LENGTH,
            records=len(records) // RECORD_LENGTH,
            state_sha256=self.digest,
        )
        return encode(header, removed, records, self.key)

    def delta(self, base: int, change: Change) -> bytes:
        return self.sign(DELTA, base, change.removed, change.records)


def _deltas_to_latest(
    connection: Connection,
    signer: _Signer,
    latest: int,
    change: Change,
    full_size: int,
    keep: int,
) -> dict[int, bytes]:
    """Signed deltas to the new version from the last one and from up to ``keep`` - 1
    versions before it, each the stored change records folded under the newer ones."""
    deltas = {latest: signer.delta(latest, change)}
    composer = Composer(change)
    for row in dao.dao_recent_changes(connection, signer.mode, keep):
        if len(deltas) >= keep or row.changes is None or row.base_version is None:
            break
        older = decode(row.changes, check=False)
        if older.header.services != signer.services:
            break
        composer.under(Change(older.removed, older.records))
        if composer.size() > full_size:
            break  # a reader this far behind is better off with the full list
        deltas[row.base_version] = signer.delta(row.base_version, composer.change())
    return deltas


def read_records(connection: Connection, mode: str, today: date) -> tuple[bytes, int]:
    """(sorted records, hotlist count) of ``mode``'s list as the register stands now."""
    codes = MODE_SERVICES[mode]
    return records_from_rows(
        dao.dao_entitled_rows(connection, codes, today),
        dao.dao_refused_rows(connection, today),
        codes,
    )


def sign_full(
    mode: str,
    version: int,
    records: bytes,
    key: ec.EllipticCurvePrivateKey,
    created_at: datetime,
) -> bytes:
    """A signed full list of ``records`` (sorted) at ``version``."""
    return _Signer(mode, version, created_at, key, state_digest(records)).sign(
        FULL, None, b"", records
    )


def build_mode(
    connection: Connection,
    mode: str,
    key: ec.EllipticCurvePrivateKey,
    *,
    now: datetime | None = None,
    keep: int = KEEP_DELTAS,
) -> Built:
    """Build, sign and store the next version of ``mode``'s list (caller commits)."""
    started = time.perf_counter()
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    records, hotlisted = read_records(connection, mode, now.date())
    latest = dao.dao_latest_snapshot(connection, mode)
    if latest is not None and latest.created_at > now:
        now = latest.created_at  # a clock gone back: never made before the list held
    version = next_version(latest.version if latest else None, now)
    signer = _Signer(mode, version, now, key, state_digest(records))
    full = signer.sign(FULL, None, b"", records)
    previous = decode(latest.full, check=False) if latest is not None and latest.full else None
    change: Change | None = None
    deltas: dict[int, bytes] = {}
    if latest is not None and previous is not None and previous.header.services == signer.services:
        change = diff(previous.records, records)
        deltas = _deltas_to_latest(connection, signer, latest.version, change, len(records), keep)
    deltas[version] = signer.delta(version, Change(b"", b""))  # "nothing new" for the latest
    delta = deltas.get(latest.version) if latest is not None else None
    dao.dao_store_version(
        connection,
        mode=mode,
        version=version,
        base_version=latest.version if change is not None and latest is not None else None,
        created_at=now,
        key_id=signer.key_id,
        state_sha256=signer.digest,
        record_count=len(records) // RECORD_LENGTH,
        hotlist_count=hotlisted,
        changed_count=change.cards if change is not None else 0,
        full=full,
        changes=delta,
    )
    dao.dao_keep_latest_only(connection, mode, version, keep)
    dao.dao_replace_deltas(connection, mode, version, deltas)
    return Built(
        mode=mode,
        version=version,
        base_version=latest.version if change is not None and latest is not None else None,
        created_at=now,
        records=len(records) // RECORD_LENGTH,
        hotlisted=hotlisted,
        changed=change.cards if change is not None else 0,
        full=full,
        delta=delta,
        deltas=len(deltas) - 1,
        seconds=time.perf_counter() - started,
    )


def snapshot_signing_key() -> ec.EllipticCurvePrivateKey:
    """The issuer's snapshot key, opened as the counter opens the certificate key."""
    settings = current_app.config["KENTCARD"]
    return issuer_store(settings.instance_path).load_snapshot_key()


@transactional
def build_snapshots(
    modes: Sequence[str], *, now: datetime | None = None, keep: int = KEEP_DELTAS
) -> list[Built]:
    """A new version of each mode's list, all committed together or not at all."""
    key = snapshot_signing_key()
    connection = db_session.connection()
    return [build_mode(connection, mode, key, now=now, keep=keep) for mode in modes]
