"""Data access for the reader fleet and offline taps (``dao_*``): the ``readers`` table,
and the ``taps`` rows of taps uploaded in batches."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import String, Table, and_, any_, bindparam, func, select, update
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects import postgresql, sqlite

from entitlements.ledger.tables import STATES
from idservice.db import db_session
from idservice.models.cards import Card, Tap
from idservice.models.oauth import OAuthClient
from idservice.models.readers import Reader

_CARDS = cast(Table, Card.__table__)
_TAPS = cast(Table, Tap.__table__)
_READERS = cast(Table, Reader.__table__)

#: Offline taps come a batch at a time: up to 1,000 card numbers or tap ids in a query. On
#: PostgreSQL each list is one array parameter (``= ANY(:list)``) and the rows to insert
#: go as one array per column (``unnest``), so every statement is small and the same each
#: time (an ``IN`` of 1,000 placeholders made psycopg spend longer parsing the statement
#: than the database spent running it); SQLite takes expanding ``IN`` lists.
_SERVICES_JOIN = _CARDS.outerjoin(
    STATES,
    and_(
        STATES.c.resident == _CARDS.c.resident_id,
        STATES.c.service.in_(bindparam("services", expanding=True)),
        STATES.c.status == "active",
    ),
)
_CARD_COLUMNS = (
    _CARDS.c.card_number,
    _CARDS.c.status,
    _CARDS.c.hotlist_reason,
    _CARDS.c.expiry,
    _CARDS.c.public_key,
    STATES.c.service,
    STATES.c.valid_from,
    STATES.c.valid_until,
)
_TEXT_ARRAY = postgresql.ARRAY(String())


def _in_list(column: Any, name: str, dialect: str) -> Any:
    if dialect == "postgresql":
        return column == any_(bindparam(name, type_=_TEXT_ARRAY))
    return column.in_(bindparam(name, expanding=True))


#: The cards of a batch with their residents' active states for one mode's services: as
#: :func:`idservice.cards.dao.dao_card_with_states`, for many card numbers at once.
_CARDS_WITH_STATES = {
    dialect: select(*_CARD_COLUMNS)
    .select_from(_SERVICES_JOIN)
    .where(_in_list(_CARDS.c.card_number, "card_numbers", dialect))
    for dialect in ("postgresql", "sqlite")
}
_RECORDED = {
    dialect: select(
        _TAPS.c.reader_tap_id, _TAPS.c.decision, _TAPS.c.code, _TAPS.c.reason, _TAPS.c.follow_up
    ).where(
        _TAPS.c.reader_client_id == bindparam("client_id"),
        _in_list(_TAPS.c.reader_tap_id, "ids", dialect),
    )
    for dialect in ("postgresql", "sqlite")
}
#: The columns an offline tap's row is written with, in this order.
OFFLINE_TAP_COLUMNS = (
    "at",
    "reader_client_id",
    "card_number",
    "mode",
    "decision",
    "code",
    "reason",
    "challenge",
    "reader_tap_id",
    "reader_decision",
    "reader_code",
    "reader_reason",
    "uploaded_at",
    "follow_up",
)
_ARRAYS = (
    func.unnest(
        *(
            sql_cast(bindparam(name), postgresql.ARRAY(_TAPS.c[name].type))
            for name in OFFLINE_TAP_COLUMNS
        )
    )
    .table_valued(*OFFLINE_TAP_COLUMNS)
    .render_derived(name="arrays")
)
_INSERT_UNNEST = (
    postgresql.insert(_TAPS)
    .from_select(list(OFFLINE_TAP_COLUMNS), select(*_ARRAYS.c))
    .on_conflict_do_nothing()
    .returning(_TAPS.c.reader_tap_id)
)
_INSERT_SQLITE = sqlite.insert(_TAPS).on_conflict_do_nothing().returning(_TAPS.c.reader_tap_id)


# -- readers --------------------------------------------------------------------------------


def dao_get_reader(client_id: str) -> Reader | None:
    return db_session.get(Reader, client_id)


def dao_add_reader(reader: Reader) -> Reader:
    db_session.add(reader)
    db_session.flush()
    return reader


def dao_list_readers() -> list[tuple[Reader, str, bool]]:
    """Every reader with its client's name and whether the client is active, those never
    heard from first, then the longest silent."""
    rows = db_session.execute(
        select(Reader, OAuthClient.name, OAuthClient.active)
        .join(OAuthClient, OAuthClient.client_id == Reader.client_id)
        .order_by(
            Reader.last_contact_at.is_not(None),
            Reader.last_contact_at,
            Reader.location,
            Reader.client_id,
        )
    )
    return [(reader, str(name), bool(active)) for reader, name, active in rows]


def dao_record_contact(
    client_id: str,
    *,
    at: datetime,
    snapshot_version: str | None,
    queued: int,
    clock_drift_ms: int,
    recorded: int = 0,
    flagged: int = 0,
    refused: int = 0,
) -> bool:
    """What the reader reported at ``at``, and the taps of this contact counted; False
    when ``client_id`` is not a registered reader."""
    result = db_session.execute(
        update(_READERS)
        .where(_READERS.c.client_id == client_id)
        .values(
            last_contact_at=at,
            snapshot_version=snapshot_version,
            queued_taps=queued,
            clock_drift_ms=clock_drift_ms,
            taps_recorded=_READERS.c.taps_recorded + recorded,
            taps_flagged=_READERS.c.taps_flagged + flagged,
            taps_refused=_READERS.c.taps_refused + refused,
        )
    )
    return bool(getattr(result, "rowcount", 0))


# -- offline taps ---------------------------------------------------------------------------


def dao_cards_with_states(
    card_numbers: Sequence[str], services: Sequence[str]
) -> dict[str, list[Any]]:
    """Per card number found, its rows as ``dao_card_with_states`` gives them (a card
    number missing from the answer is not on the register). One query."""
    found: dict[str, list[Any]] = defaultdict(list)
    if not card_numbers:
        return found
    connection = db_session.connection()
    rows = connection.execute(
        _CARDS_WITH_STATES[connection.dialect.name],
        {"card_numbers": list(dict.fromkeys(card_numbers)), "services": list(services)},
    )
    for row in rows:
        found[row.card_number].append(row)
    return found


def dao_recorded_taps(client_id: str, tap_ids: Sequence[str]) -> dict[str, Any]:
    """The taps of ``client_id`` already recorded under these ids, by id (decision,
    code, reason, follow_up)."""
    if not tap_ids:
        return {}
    connection = db_session.connection()
    rows = connection.execute(
        _RECORDED[connection.dialect.name], {"client_id": client_id, "ids": list(tap_ids)}
    )
    return {row.reader_tap_id: row for row in rows}


def dao_insert_offline_taps(rows: list[dict[str, Any]]) -> set[str]:
    """Insert the ``taps`` rows of uploaded taps in one statement, skipping any that a
    unique index refuses (a tap id recorded meanwhile by a concurrent upload of the same
    batch, or a card answer recorded before); returns the tap ids inserted."""
    if not rows:
        return set()
    connection = db_session.connection()
    if connection.dialect.name == "postgresql":
        columns = {name: [row[name] for row in rows] for name in OFFLINE_TAP_COLUMNS}
        return {row[0] for row in connection.execute(_INSERT_UNNEST, columns)}
    return {row[0] for row in connection.execute(_INSERT_SQLITE, rows)}
