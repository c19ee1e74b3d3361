"""partner queries and pairwise subjects

``partner_queries`` records every partner entitlement check (no card numbers);
``pairwise_subjects`` maps each pairwise ``sub`` released to a sector back to its resident.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 19:04:01.026952
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import idservice.models.types

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pairwise_subjects",
        sa.Column("sector", sa.String(length=255), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("resident_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", idservice.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["resident_id"],
            ["residents.id"],
            name=op.f("fk_pairwise_subjects_resident_id_residents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("sector", "subject", name=op.f("pk_pairwise_subjects")),
    )
    with op.batch_alter_table("pairwise_subjects", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_pairwise_subjects_resident_id"), ["resident_id"], unique=False
        )

    op.create_table(
        "partner_queries",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("at", idservice.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("resident_id", sa.String(length=36), nullable=True),
        sa.Column("service", sa.String(length=128), nullable=False),
        sa.Column("looked_up_by", sa.String(length=16), nullable=False),
        sa.Column("entitled", sa.Boolean(), nullable=False),
        sa.Column("result", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["resident_id"],
            ["residents.id"],
            name=op.f("fk_partner_queries_resident_id_residents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_queries")),
    )
    with op.batch_alter_table("partner_queries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_partner_queries_resident_id_at", ["resident_id", "at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("partner_queries", schema=None) as batch_op:
        batch_op.drop_index("ix_partner_queries_resident_id_at")

    op.drop_table("partner_queries")
    with op.batch_alter_table("pairwise_subjects", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pairwise_subjects_resident_id"))

    op.drop_table("pairwise_subjects")
