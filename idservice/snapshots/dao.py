"""Data access for offline lists (``dao_*``): the register's rows and the stored versions.

Every function takes the SQLAlchemy ``Connection`` to run on, so the builder runs the
same way inside the app (the session's connection) and in a benchmark (its own engine).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date
from typing import Any, cast

from sqlalchemy import Connection, Table, and_, delete, insert, or_, select, update

from entitlements.ledger.tables import STATES
from idservice.models.cards import CARD_ACTIVE, CARD_HOTLISTED, CARD_REPLACED, Card
from idservice.models.snapshots import OfflineSnapshot, OfflineSnapshotDelta

_CARDS = cast(Table, Card.__table__)
_SNAPSHOTS = cast(Table, OfflineSnapshot.__table__)
_DELTAS = cast(Table, OfflineSnapshotDelta.__table__)
#: Rows fetched per round trip when streaming the register (a server-side cursor on
#: PostgreSQL, so 1.6 million rows never sit in memory as row objects at once).
STREAM_ROWS = 20_000


def _stream(connection: Connection, statement: Any) -> Iterator[Any]:
    options = {"stream_results": True, "yield_per": STREAM_ROWS}
    yield from connection.execute(statement, execution_options=options)


def dao_entitled_rows(
    connection: Connection, services: Sequence[str], today: date
) -> Iterator[tuple[bytes, str, date | None, date | None]]:
    """(card public key, service, valid from, valid until) for each active card's current
    or future entitlement among ``services``. Cards without a registered key are left
    out: a reader could not match them (they never finished personalisation)."""
    statement = (
        select(_CARDS.c.public_key, STATES.c.service, STATES.c.valid_from, STATES.c.valid_until)
        .select_from(_CARDS.join(STATES, STATES.c.resident == _CARDS.c.resident_id))
        .where(
            _CARDS.c.status == CARD_ACTIVE,
            _CARDS.c.expiry >= today,
            _CARDS.c.public_key.is_not(None),
            STATES.c.status == "active",
            STATES.c.service.in_(list(services)),
            or_(STATES.c.valid_until.is_(None), STATES.c.valid_until >= today),
        )
    )
    return _stream(connection, statement)


def dao_refused_rows(
    connection: Connection, today: date
) -> Iterator[tuple[bytes, str, str | None]]:
    """(card public key, status, hotlist reason) for every hotlisted or replaced card
    that has not expired yet (a reader refuses an expired card on its certificate)."""
    statement = select(_CARDS.c.public_key, _CARDS.c.status, _CARDS.c.hotlist_reason).where(
        _CARDS.c.status.in_([CARD_HOTLISTED, CARD_REPLACED]),
        _CARDS.c.expiry >= today,
        _CARDS.c.public_key.is_not(None),
    )
    return _stream(connection, statement)


def dao_latest_snapshot(connection: Connection, mode: str) -> Any | None:
    """The newest version's row for ``mode`` (with its full list), or None."""
    return connection.execute(
        select(_SNAPSHOTS)
        .where(_SNAPSHOTS.c.mode == mode)
        .order_by(_SNAPSHOTS.c.version.desc())
        .limit(1)
    ).first()


def dao_recent_changes(connection: Connection, mode: str, limit: int) -> list[Any]:
    """(version, base_version, changes) of the newest ``limit`` versions, newest first."""
    return list(
        connection.execute(
            select(_SNAPSHOTS.c.version, _SNAPSHOTS.c.base_version, _SNAPSHOTS.c.changes)
            .where(_SNAPSHOTS.c.mode == mode)
            .order_by(_SNAPSHOTS.c.version.desc())
            .limit(limit)
        ).all()
    )


def dao_store_version(connection: Connection, **values: Any) -> None:
    """Insert a new version; the primary key refuses a version another build took."""
    connection.execute(insert(_SNAPSHOTS).values(**values))


def dao_keep_latest_only(connection: Connection, mode: str, version: int, keep: int) -> None:
    """Drop the full lists of older versions, and their change records past ``keep``."""
    connection.execute(
        update(_SNAPSHOTS)
        .where(_SNAPSHOTS.c.mode == mode, _SNAPSHOTS.c.version < version)
        .values(full=None)
    )
    versions = [
        row.version
        for row in connection.execute(
            select(_SNAPSHOTS.c.version)
            .where(_SNAPSHOTS.c.mode == mode, _SNAPSHOTS.c.changes.is_not(None))
            .order_by(_SNAPSHOTS.c.version.desc())
        )
    ]
    if len(versions) > keep:
        connection.execute(
            update(_SNAPSHOTS)
            .where(_SNAPSHOTS.c.mode == mode, _SNAPSHOTS.c.version <= versions[keep])
            .values(changes=None)
        )


def dao_replace_deltas(
    connection: Connection, mode: str, version: int, deltas: dict[int, bytes]
) -> None:
    """The deltas to ``version`` (by base version) replace those to the version before."""
    connection.execute(delete(_DELTAS).where(_DELTAS.c.mode == mode))
    if deltas:
        connection.execute(
            insert(_DELTAS),
            [
                {"mode": mode, "base_version": base, "version": version, "body": body}
                for base, body in deltas.items()
            ],
        )


def dao_latest_version(connection: Connection, mode: str) -> int | None:
    return connection.execute(
        select(_SNAPSHOTS.c.version)
        .where(_SNAPSHOTS.c.mode == mode)
        .order_by(_SNAPSHOTS.c.version.desc())
        .limit(1)
    ).scalar()


def dao_full_body(connection: Connection, mode: str, version: int) -> bytes | None:
    return connection.execute(
        select(_SNAPSHOTS.c.full).where(_SNAPSHOTS.c.mode == mode, _SNAPSHOTS.c.version == version)
    ).scalar()


def dao_delta_body(connection: Connection, mode: str, since: int, version: int) -> bytes | None:
    return connection.execute(
        select(_DELTAS.c.body).where(
            and_(
                _DELTAS.c.mode == mode,
                _DELTAS.c.base_version == since,
                _DELTAS.c.version == version,
            )
        )
    ).scalar()
