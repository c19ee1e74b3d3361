"""The ledger's tables, in their own metadata so ``entitlements`` never imports ``idservice``.

The naming convention is copied from ``idservice/models/base.py`` so constraint names
follow one scheme across the schema; ``migrations/env.py`` lists both metadatas.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Seq = BigInteger().with_variant(Integer(), "sqlite")


class LedgerBase(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class LedgerEventRow(LedgerBase):
    """One event. ``body`` is the canonical JSON that is hashed; the other columns are
    copies for querying, and ``verify`` checks they agree with it."""

    __tablename__ = "ledger_events"

    seq: Mapped[int] = mapped_column(Seq, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(16))
    resident: Mapped[str] = mapped_column(String(64), index=True)
    service: Mapped[str] = mapped_column(String(128))
    body: Mapped[str] = mapped_column(Text)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    chain_hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class LedgerHeadRow(LedgerBase):
    """The single row every writer locks: the size and chain hash of the ledger."""

    __tablename__ = "ledger_head"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(Seq)
    chain_hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class TreeHeadRow(LedgerBase):
    """A signed tree head: the Merkle root at a size, signed with the instance's key."""

    __tablename__ = "ledger_tree_heads"

    tree_size: Mapped[int] = mapped_column(Seq, primary_key=True, autoincrement=False)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    body: Mapped[str] = mapped_column(Text)
    signature: Mapped[bytes] = mapped_column(LargeBinary(128))
    key_id: Mapped[str] = mapped_column(String(64))


class EntitlementStateRow(LedgerBase):
    """The projection: current state per resident and service, rebuilt from events."""

    __tablename__ = "entitlement_states"
    __table_args__ = (
        # What the daily sweep looks for: held entitlements by the day they end (expiry,
        # renewal invitations), without reading the ones that ended long ago.
        Index(
            "ix_entitlement_states_held_until",
            "valid_until",
            "service",
            sqlite_where=text("status IN ('active', 'suspended')"),
            postgresql_where=text("status IN ('active', 'suspended')"),
        ),
    )

    resident: Mapped[str] = mapped_column(String(64), primary_key=True)
    service: Mapped[str] = mapped_column(String(128), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date)
    last_seq: Mapped[int] = mapped_column(Seq)


LEDGER_EVENTS = LedgerEventRow.__table__
LEDGER_HEAD = LedgerHeadRow.__table__
TREE_HEADS = TreeHeadRow.__table__
STATES = EntitlementStateRow.__table__
GENESIS_CHAIN_HASH = bytes(32)
