"""reader fleet and offline taps

``readers``: a registered reader (an OAuth client) with its location, operator (route,
vehicle) and mode, and what it reported at its last contact: snapshot version, queued
taps, clock drift; with counts of the offline taps it uploaded.

``taps`` gains the columns of a tap decided offline and uploaded later: the reader's id
for it (unique per reader, so an upload sent twice is recorded once), the reader's own
decision, code and reason, when it was uploaded, and ``follow_up`` for a tap the reader
allowed that the service refuses (a partial index finds them). Nullable columns and a
constant default: no table rewrite on PostgreSQL.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 23:47:52
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import idservice.models.types

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

_BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "readers",
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("location", sa.String(length=200), nullable=False),
        sa.Column("operator", sa.String(length=200), nullable=True),
        sa.Column("route", sa.String(length=64), nullable=True),
        sa.Column("vehicle", sa.String(length=64), nullable=True),
        sa.Column(
            "registered_at", idservice.models.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "last_contact_at", idservice.models.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("snapshot_version", sa.String(length=64), nullable=True),
        sa.Column("queued_taps", _BIGINT, nullable=True),
        sa.Column("clock_drift_ms", _BIGINT, nullable=True),
        sa.Column("taps_recorded", _BIGINT, server_default=sa.text("0"), nullable=False),
        sa.Column("taps_flagged", _BIGINT, server_default=sa.text("0"), nullable=False),
        sa.Column("taps_refused", _BIGINT, server_default=sa.text("0"), nullable=False),
        sa.CheckConstraint("mode IN ('library', 'transport')", name=op.f("ck_readers_mode")),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["oauth_clients.client_id"],
            name=op.f("fk_readers_client_id_oauth_clients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_readers")),
    )
    with op.batch_alter_table("taps", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reader_tap_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("reader_decision", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("reader_code", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("reader_reason", sa.String(length=200), nullable=True))
        batch_op.add_column(
            sa.Column(
                "uploaded_at", idservice.models.types.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch_op.add_column(
            sa.Column("follow_up", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.create_index(
            "ix_taps_follow_up",
            ["reader_client_id"],
            unique=False,
            sqlite_where=sa.text("follow_up"),
            postgresql_where=sa.text("follow_up"),
        )
        batch_op.create_index(
            "uq_taps_reader_tap_id", ["reader_client_id", "reader_tap_id"], unique=True
        )


def downgrade() -> None:
    with op.batch_alter_table("taps", schema=None) as batch_op:
        batch_op.drop_index("uq_taps_reader_tap_id")
        batch_op.drop_index("ix_taps_follow_up")
        batch_op.drop_column("follow_up")
        batch_op.drop_column("uploaded_at")
        batch_op.drop_column("reader_reason")
        batch_op.drop_column("reader_code")
        batch_op.drop_column("reader_decision")
        batch_op.drop_column("reader_tap_id")
    op.drop_table("readers")
