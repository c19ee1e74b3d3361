"""Appending to the ledger, signing tree heads, verifying, proofs and rebuilding state.

Writers serialise on the single ``ledger_head`` row: ``SELECT ... FOR UPDATE`` on
PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite (which takes the database's write lock before
the head is read). Each append reads the head, writes its events with the next sequence
numbers and chain hashes, updates the projection and the head, and commits, so the chain
can never fork or leave a gap however many writers there are.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import Connection, Engine, Table, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from entitlements.ledger.events import LedgerEvent, canonical
from entitlements.ledger.merkle import RootBuilder, inclusion_proof, leaf_hash, verify_inclusion
from entitlements.ledger.projection import DATED_KINDS, EntitlementState, fold
from entitlements.ledger.signing import SigningKey, public_pem, verify_signature
from entitlements.ledger.tables import (
    EntitlementStateRow,
    LedgerEventRow,
    LedgerHeadRow,
    TreeHeadRow,
)

EVENTS = cast(Table, LedgerEventRow.__table__)
HEAD = cast(Table, LedgerHeadRow.__table__)
TREE_HEADS = cast(Table, TreeHeadRow.__table__)
STATES = cast(Table, EntitlementStateRow.__table__)
LOG_NAME = "kentcard-entitlements"
_READ_BATCH = 20_000


def chain(previous: bytes, leaf: bytes) -> bytes:
    return hashlib.sha256(previous + leaf).digest()


def _begin_writer(conn: Connection) -> None:
    """Take the ledger's write lock before reading the head."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")


MISSING_HEAD = "the ledger_head row is missing: run `kentcard db upgrade`"


def read_head(conn: Connection, for_update: bool) -> tuple[int, bytes]:
    query = select(HEAD.c.size, HEAD.c.chain_hash).where(HEAD.c.id == 1)
    if for_update:
        query = query.with_for_update()
    row = conn.execute(query).one_or_none()
    if row is None:
        raise RuntimeError(MISSING_HEAD)
    return int(row.size), bytes(row.chain_hash)


def append(engine: Engine, events: Sequence[LedgerEvent]) -> list[int]:
    """Append ``events`` in one transaction; returns their sequence numbers."""
    if not events:
        return []
    with engine.connect() as conn:
        _begin_writer(conn)
        size, chain_hash = read_head(conn, for_update=True)
        seqs = _write(conn, size, chain_hash, events)
        conn.commit()
    return seqs


def append_in(conn: Connection, events: Sequence[LedgerEvent]) -> list[int]:
    """Append ``events`` inside the caller's transaction, committed (or not) with it.

    For a change that must land with its events or not at all (a card issued and its
    ``card-issued`` event). The head row is written and read in one statement
    (``UPDATE ... RETURNING``): the write takes the row lock on PostgreSQL and the write
    lock on SQLite, where a transaction that has already begun cannot ``BEGIN IMMEDIATE``.
    """
    if not events:
        return []
    head = conn.execute(
        update(HEAD)
        .where(HEAD.c.id == 1)
        .values(size=HEAD.c.size)
        .returning(HEAD.c.size, HEAD.c.chain_hash)
    ).one_or_none()
    if head is None:
        raise RuntimeError(MISSING_HEAD)
    return _write(conn, int(head.size), bytes(head.chain_hash), events)


def _write(
    conn: Connection, size: int, chain_hash: bytes, events: Sequence[LedgerEvent]
) -> list[int]:
    rows: list[dict[str, Any]] = []
    for offset, event in enumerate(events, start=1):
        body = event.body(size + offset)
        leaf = leaf_hash(body)
        chain_hash = chain(chain_hash, leaf)
        rows.append(
            {
                "seq": size + offset,
                "kind": event.kind.value,
                "resident": event.resident,
                "service": event.service,
                "body": body.decode(),
                "leaf_hash": leaf,
                "chain_hash": chain_hash,
            }
        )
    conn.execute(insert(EVENTS), rows)
    _update_projection(conn, [(r["seq"], e) for r, e in zip(rows, events, strict=True)])
    conn.execute(
        update(HEAD).where(HEAD.c.id == 1).values(size=size + len(events), chain_hash=chain_hash)
    )
    return [row["seq"] for row in rows]


def _state_from_row(row: Any) -> EntitlementState:
    return EntitlementState(
        row.resident, row.service, row.status, row.valid_from, row.valid_until, row.last_seq
    )


def _upsert(conn: Connection, rows: list[dict[str, Any]], columns: Sequence[str]) -> None:
    """Insert rows, or on an existing (resident, service) update only ``columns``."""
    if not rows:
        return
    module = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = module.insert(STATES)
    statement = statement.on_conflict_do_update(
        index_elements=[STATES.c.resident, STATES.c.service],
        set_={name: statement.excluded[name] for name in columns},
    )
    conn.execute(statement, rows)


def _update_projection(conn: Connection, events: list[tuple[int, LedgerEvent]]) -> None:
    """Apply a batch to the projection with the same fold ``rebuild`` uses.

    A key granted or renewed in the batch takes the batch's result whole; any other key
    keeps its stored dates and takes only the new status, exactly as :func:`apply` would.
    """
    batch = fold(events)
    dated = {(e.resident, e.service) for _, e in events if e.kind in DATED_KINDS}
    rows = {key: state.__dict__ for key, state in batch.items()}
    _upsert(
        conn,
        [r for k, r in rows.items() if k in dated],
        ["status", "valid_from", "valid_until", "last_seq"],
    )
    _upsert(conn, [r for k, r in rows.items() if k not in dated], ["status", "last_seq"])


def states(engine: Engine) -> list[EntitlementState]:
    with engine.connect() as conn:
        rows = conn.execute(select(STATES).order_by(STATES.c.resident, STATES.c.service))
        return [_state_from_row(row) for row in rows]


def rebuild(engine: Engine) -> int:
    """Replace the projection with a fold over every event; returns the number of states."""
    with engine.connect() as conn:
        _begin_writer(conn)
        read_head(conn, for_update=True)  # no appends while the projection is replaced
        result = fold(LedgerEvent.from_body(body.encode()) for body in _bodies(conn))
        conn.execute(delete(STATES))
        rows = [state.__dict__ for state in result.values()]
        for start in range(0, len(rows), 10_000):
            conn.execute(insert(STATES), rows[start : start + 10_000])
        conn.commit()
    return len(result)


def _bodies(conn: Connection) -> Iterator[str]:
    query = select(EVENTS.c.body).order_by(EVENTS.c.seq)
    for row in conn.execute(query.execution_options(yield_per=_READ_BATCH)):
        yield row.body


@dataclass(frozen=True)
class SignedTreeHead:
    tree_size: int
    root_hash: bytes
    body: bytes
    signature: bytes
    key_id: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "body": self.body.decode(),
            "signature": base64.b64encode(self.signature).decode(),
            "key_id": self.key_id,
        }


def sign_tree_head(engine: Engine, key: SigningKey) -> SignedTreeHead:
    """Sign the Merkle root over every event so far (recomputed from the events)."""
    with engine.connect() as conn:
        size, _ = read_head(conn, for_update=False)
        builder = RootBuilder()
        query = select(EVENTS.c.leaf_hash).where(EVENTS.c.seq <= size).order_by(EVENTS.c.seq)
        for row in conn.execute(query.execution_options(yield_per=_READ_BATCH)):
            builder.add(bytes(row.leaf_hash))
        if builder.size != size:
            raise RuntimeError("the ledger has gaps; run `kentcard ledger verify`")
        root = builder.root()
        body = canonical(
            {
                "log": LOG_NAME,
                "tree_size": size,
                "root_hash": root.hex(),
                "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
                "key_id": key.key_id,
            }
        )
        head = SignedTreeHead(size, root, body, key.sign(body), key.key_id)
        try:
            conn.execute(
                insert(TREE_HEADS).values(
                    tree_size=size,
                    root_hash=root,
                    body=body.decode(),
                    signature=head.signature,
                    key_id=key.key_id,
                )
            )
            conn.commit()
        except IntegrityError:  # already signed at this size (perhaps by another process)
            conn.rollback()
            stored = _tree_head_at(conn, size)
            assert stored is not None
            return stored
        return head


def _head_from_row(row: Any) -> SignedTreeHead:
    return SignedTreeHead(
        row.tree_size, bytes(row.root_hash), row.body.encode(), bytes(row.signature), row.key_id
    )


def _tree_head_at(conn: Connection, size: int) -> SignedTreeHead | None:
    row = conn.execute(select(TREE_HEADS).where(TREE_HEADS.c.tree_size == size)).first()
    return None if row is None else _head_from_row(row)


def latest_tree_head(engine: Engine, at_least: int = 0) -> SignedTreeHead | None:
    with engine.connect() as conn:
        row = conn.execute(
            select(TREE_HEADS)
            .where(TREE_HEADS.c.tree_size >= at_least)
            .order_by(TREE_HEADS.c.tree_size.desc())
            .limit(1)
        ).first()
    return None if row is None else _head_from_row(row)


def inclusion(engine: Engine, seq: int, head: SignedTreeHead, key: SigningKey) -> dict[str, Any]:
    """Everything an outside party needs to check event ``seq`` against ``head``."""
    if not 1 <= seq <= head.tree_size:
        raise ValueError(f"event {seq} is not covered by the tree head of size {head.tree_size}")
    with engine.connect() as conn:
        query = (
            select(EVENTS.c.leaf_hash).where(EVENTS.c.seq <= head.tree_size).order_by(EVENTS.c.seq)
        )
        leaves = [
            bytes(r.leaf_hash) for r in conn.execute(query.execution_options(yield_per=_READ_BATCH))
        ]
        body = conn.execute(select(EVENTS.c.body).where(EVENTS.c.seq == seq)).scalar_one()
    return {
        "seq": seq,
        "leaf_index": seq - 1,
        "event": body,
        "leaf_hash": leaf_hash(body.encode()).hex(),
        "audit_path": [h.hex() for h in inclusion_proof(seq - 1, leaves)],
        "tree_head": head.as_dict(),
        "public_key": public_pem(key.public_key),
        "hashing": "RFC 9162: leaf SHA-256(0x00||event), node SHA-256(0x01||left||right)",
    }


def check_proof(proof: Mapping[str, Any], public_key: ec.EllipticCurvePublicKey) -> bool:
    """What an auditor does with a proof: signature, then the path up to the signed root."""
    head = proof["tree_head"]
    body = head["body"].encode()
    if not verify_signature(public_key, body, base64.b64decode(head["signature"])):
        return False
    fields = json.loads(body)
    event = proof["event"].encode()
    if json.loads(event)["seq"] != proof["seq"]:
        return False
    return verify_inclusion(
        int(proof["seq"]) - 1,
        int(fields["tree_size"]),
        leaf_hash(event),
        [bytes.fromhex(h) for h in proof["audit_path"]],
        bytes.fromhex(fields["root_hash"]),
    )
