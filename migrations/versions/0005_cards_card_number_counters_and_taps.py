"""cards, card number counters and taps

One active card per resident is a partial unique index (PostgreSQL and SQLite both
enforce it); card numbers come from a counter row per issuer prefix.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 17:22:49.822799
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import idservice.models.types

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "card_number_counters",
        sa.Column("issuer_prefix", sa.String(length=12), nullable=False),
        sa.Column(
            "next_serial", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.PrimaryKeyConstraint("issuer_prefix", name=op.f("pk_card_number_counters")),
    )
    op.create_table(
        "taps",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("at", idservice.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reader_client_id", sa.String(length=64), nullable=False),
        sa.Column("card_number", sa.String(length=19), nullable=True),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("decision", sa.String(length=8), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_taps")),
    )
    with op.batch_alter_table("taps", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_taps_card_number"), ["card_number"], unique=False)

    op.create_table(
        "cards",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("card_number", sa.String(length=19), nullable=False),
        sa.Column("resident_id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("hotlist_reason", sa.String(length=16), nullable=True),
        sa.Column("expiry", sa.Date(), nullable=False),
        sa.Column("public_key", sa.LargeBinary(length=65), nullable=True),
        sa.Column("certificate", sa.LargeBinary(length=512), nullable=True),
        sa.Column("issuer_key_id", sa.String(length=16), nullable=True),
        sa.Column("ordered_at", idservice.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("issued_by_staff_id", sa.String(length=36), nullable=True),
        sa.Column("issued_at", idservice.models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "status_changed_at", idservice.models.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("replaces_id", sa.String(length=36), nullable=True),
        sa.Column("replaced_by_id", sa.String(length=36), nullable=True),
        sa.CheckConstraint(
            "hotlist_reason IS NULL OR hotlist_reason IN ('lost', 'stolen', 'damaged')",
            name=op.f("ck_cards_hotlist_reason"),
        ),
        sa.CheckConstraint(
            "status IN ('ordered', 'personalised', 'active', 'hotlisted', 'expired', 'replaced')",
            name=op.f("ck_cards_status"),
        ),
        sa.ForeignKeyConstraint(
            ["issued_by_staff_id"],
            ["staff_members.id"],
            name=op.f("fk_cards_issued_by_staff_id_staff_members"),
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["residents.id"], name=op.f("fk_cards_resident_id_residents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cards")),
        sa.UniqueConstraint("card_number", name=op.f("uq_cards_card_number")),
    )
    with op.batch_alter_table("cards", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cards_resident_id"), ["resident_id"], unique=False)
        batch_op.create_index(
            "uq_cards_one_active_per_resident",
            ["resident_id"],
            unique=True,
            sqlite_where=sa.text("status = 'active'"),
            postgresql_where=sa.text("status = 'active'"),
        )


def downgrade() -> None:
    with op.batch_alter_table("cards", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_cards_one_active_per_resident",
            sqlite_where=sa.text("status = 'active'"),
            postgresql_where=sa.text("status = 'active'"),
        )
        batch_op.drop_index(batch_op.f("ix_cards_resident_id"))

    op.drop_table("cards")
    with op.batch_alter_table("taps", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_taps_card_number"))

    op.drop_table("taps")
    op.drop_table("card_number_counters")
