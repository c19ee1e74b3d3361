"""Events and raw-SQL tampering for the ledger tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine, text

from entitlements.ledger.events import Channel, EventKind, LedgerEvent
from entitlements.ledger.merkle import leaf_hash
from entitlements.ledger.store import chain

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def event(i: int, kind: EventKind = EventKind.GRANT, service: str = "library") -> LedgerEvent:
    return LedgerEvent(
        kind=kind,
        resident=f"res-{i % 7:08d}",
        service=service,
        actor="staff-gateway-42",
        channel=Channel.FACE_TO_FACE,
        reason="eligible on checked facts",
        occurred_at=T0 + timedelta(seconds=i),
        evidence=(f"evidence:{i}",),
        valid_from=date(2026, 11, 23),
        valid_until=date(2031, 11, 22),
    )


def sql(engine: Engine, statement: str, **params: object) -> None:
    with engine.begin() as conn:
        conn.execute(text(statement), params)


def shift_up_from(engine: Engine, seq: int) -> None:
    """Renumber events ``seq`` onwards one higher (two steps keep the key unique)."""
    sql(engine, "UPDATE ledger_events SET seq = -(seq + 1) WHERE seq >= :s", s=seq)
    sql(engine, "UPDATE ledger_events SET seq = -seq WHERE seq < 0")


def forge(engine: Engine, seq: int, previous_chain: bytes) -> None:
    """Insert a well-formed, correctly hashed event at ``seq``: the careful forger."""
    body = event(999, service="blue-badge").body(seq)
    leaf = leaf_hash(body)
    sql(
        engine,
        "INSERT INTO ledger_events (seq, kind, resident, service, body, leaf_hash, chain_hash)"
        " VALUES (:seq, 'grant', :resident, 'blue-badge', :body, :leaf, :chain)",
        seq=seq,
        resident=event(999).resident,
        body=body.decode(),
        leaf=leaf,
        chain=chain(previous_chain, leaf),
    )
