"""sweep runs and the held-until index

The daily sweep (``kentcard entitlements sweep``) records each day it ran for in
``sweep_runs`` (idservice/models/sweep.py), and finds held entitlements by the day they
end through a partial index on the ledger's projection (entitlements/ledger/tables.py):
only active and suspended states are in it, so the states that ended long ago are never
read.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 17:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import idservice.models.types

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

HELD = sa.text("status IN ('active', 'suspended')")


def upgrade() -> None:
    op.create_table(
        "sweep_runs",
        sa.Column("swept_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("looked_back_to", sa.Date(), nullable=False),
        sa.Column("started_at", idservice.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", idservice.models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.CheckConstraint("status IN ('running', 'done')", name=op.f("ck_sweep_runs_status")),
        sa.PrimaryKeyConstraint("swept_on", name=op.f("pk_sweep_runs")),
    )
    with op.batch_alter_table("entitlement_states", schema=None) as batch_op:
        batch_op.create_index(
            "ix_entitlement_states_held_until",
            ["valid_until", "service"],
            unique=False,
            sqlite_where=HELD,
            postgresql_where=HELD,
        )


def downgrade() -> None:
    with op.batch_alter_table("entitlement_states", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_entitlement_states_held_until", sqlite_where=HELD, postgresql_where=HELD
        )
    op.drop_table("sweep_runs")
