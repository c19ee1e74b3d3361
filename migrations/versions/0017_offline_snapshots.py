"""offline snapshots

Signed offline lists for readers (idservice/models/snapshots.py): ``offline_snapshots``,
one row per reader mode and version with the signed delta from the version before and,
for the latest version only, the signed full list; ``offline_snapshot_deltas``, the
signed deltas from each recent version to the latest, which ``GET
/api/v1/snapshots/{mode}?since=`` serves as they are.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-08 00:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import idservice.models.types

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "offline_snapshots",
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("version", BIGINT, autoincrement=False, nullable=False),
        sa.Column("base_version", BIGINT, nullable=True),
        sa.Column("created_at", idservice.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("state_sha256", sa.String(length=64), nullable=False),
        sa.Column("record_count", sa.Integer(), nullable=False),
        sa.Column("hotlist_count", sa.Integer(), nullable=False),
        sa.Column("changed_count", sa.Integer(), nullable=False),
        sa.Column("full", sa.LargeBinary(), nullable=True),
        sa.Column("changes", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("mode", "version", name=op.f("pk_offline_snapshots")),
    )
    op.create_table(
        "offline_snapshot_deltas",
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("base_version", BIGINT, autoincrement=False, nullable=False),
        sa.Column("version", BIGINT, nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("mode", "base_version", name=op.f("pk_offline_snapshot_deltas")),
    )


def downgrade() -> None:
    op.drop_table("offline_snapshot_deltas")
    op.drop_table("offline_snapshots")
