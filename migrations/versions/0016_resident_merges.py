"""resident merges

Two records found to be one person are merged by staff: ``resident_merges`` says who
merged which record into which, when, why and exactly what moved, so that the merge can
be undone within the configured number of days. A merged record gets the new status
``merged`` and ``merged_into_id`` pointing at the surviving record.

``residents.status`` had no check constraint; it gets one listing every status the code
writes (``active``, ``closed``, ``deceased``, ``erased`` and now ``merged``), and a
second one keeps ``merged_into_id`` set exactly when the status is ``merged``.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 17:03:08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import idservice.models.types

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

STATUSES = "status IN ('active', 'closed', 'deceased', 'erased', 'merged')"
MERGED_INTO = (
    "(status = 'merged' AND merged_into_id IS NOT NULL) "
    "OR (status <> 'merged' AND merged_into_id IS NULL)"
)


def upgrade() -> None:
    op.create_table(
        "resident_merges",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("survivor_id", sa.String(length=36), nullable=False),
        sa.Column("merged_id", sa.String(length=36), nullable=False),
        sa.Column("staff_id", sa.String(length=36), nullable=False),
        sa.Column("staff_role", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("merged_at", idservice.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("moved", sa.JSON(), nullable=False),
        sa.Column("ledger_seqs", sa.JSON(), nullable=False),
        sa.Column("undone_at", idservice.models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("undone_by_staff_id", sa.String(length=36), nullable=True),
        sa.Column("undo_reason", sa.String(length=500), nullable=True),
        sa.Column("undo", sa.JSON(), nullable=False),
        sa.Column("undo_ledger_seqs", sa.JSON(), nullable=False),
        sa.CheckConstraint("survivor_id <> merged_id", name=op.f("ck_resident_merges_two_records")),
        sa.ForeignKeyConstraint(
            ["merged_id"], ["residents.id"], name=op.f("fk_resident_merges_merged_id_residents")
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff_members.id"],
            name=op.f("fk_resident_merges_staff_id_staff_members"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["survivor_id"],
            ["residents.id"],
            name=op.f("fk_resident_merges_survivor_id_residents"),
        ),
        sa.ForeignKeyConstraint(
            ["undone_by_staff_id"],
            ["staff_members.id"],
            name=op.f("fk_resident_merges_undone_by_staff_id_staff_members"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resident_merges")),
    )
    with op.batch_alter_table("resident_merges", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_resident_merges_merged_id"), ["merged_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_resident_merges_survivor_id"), ["survivor_id"], unique=False
        )
        batch_op.create_index(
            "uq_resident_merges_one_open",
            ["merged_id"],
            unique=True,
            sqlite_where=sa.text("undone_at IS NULL"),
            postgresql_where=sa.text("undone_at IS NULL"),
        )

    with op.batch_alter_table("residents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("merged_into_id", sa.String(length=36), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_residents_merged_into_id_residents"),
            "residents",
            ["merged_into_id"],
            ["id"],
        )
        batch_op.create_check_constraint(op.f("ck_residents_status"), sa.text(STATUSES))
        batch_op.create_check_constraint(op.f("ck_residents_merged_into"), sa.text(MERGED_INTO))


def downgrade() -> None:
    # A merged record cannot be told apart from an open one without the new column: undo
    # every merge first (the staff console), or the downgrade stops here.
    merged = (
        op.get_bind()
        .execute(sa.text("SELECT COUNT(*) FROM residents WHERE status = 'merged'"))
        .scalar_one()
    )
    if merged:
        raise RuntimeError(
            f"{merged} resident records are merged: undo the merges before downgrading"
        )
    with op.batch_alter_table("residents", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_residents_merged_into"), type_="check")
        batch_op.drop_constraint(op.f("ck_residents_status"), type_="check")
        batch_op.drop_constraint(
            batch_op.f("fk_residents_merged_into_id_residents"), type_="foreignkey"
        )
        batch_op.drop_column("merged_into_id")

    with op.batch_alter_table("resident_merges", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_resident_merges_one_open",
            sqlite_where=sa.text("undone_at IS NULL"),
            postgresql_where=sa.text("undone_at IS NULL"),
        )
        batch_op.drop_index(batch_op.f("ix_resident_merges_survivor_id"))
        batch_op.drop_index(batch_op.f("ix_resident_merges_merged_id"))

    op.drop_table("resident_merges")
