"""card sign-ins, and the spoiled card status

``card_sign_ins`` holds the single-use challenges of card + PIN sign-in at kiosks; a card
whose personalisation failed becomes ``spoiled`` (number burnt, never used again).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 19:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import idservice.models.types

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_OLD = "status IN ('ordered', 'personalised', 'active', 'hotlisted', 'expired', 'replaced')"
_NEW = (
    "status IN ('ordered', 'personalised', 'active', 'hotlisted', 'expired', 'replaced', 'spoiled')"
)


def _card_status(condition: str) -> None:
    with op.batch_alter_table("cards", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_cards_status"), type_="check")
        batch_op.create_check_constraint(op.f("ck_cards_status"), sa.text(condition))


def upgrade() -> None:
    op.create_table(
        "card_sign_ins",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("browser_hash", sa.String(length=64), nullable=False),
        sa.Column("challenge", sa.LargeBinary(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", idservice.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", idservice.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reader_client_id", sa.String(length=64), nullable=True),
        sa.Column("resident_id", sa.String(length=36), nullable=True),
        sa.Column("card_id", sa.String(length=36), nullable=True),
        sa.Column("message", sa.String(length=300), nullable=True),
        sa.Column("answered_at", idservice.models.types.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'answered', 'completed', 'refused')",
            name=op.f("ck_card_sign_ins_status"),
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"],
            ["residents.id"],
            name=op.f("fk_card_sign_ins_resident_id_residents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_card_sign_ins")),
        sa.UniqueConstraint("code", name=op.f("uq_card_sign_ins_code")),
    )
    with op.batch_alter_table("card_sign_ins", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_card_sign_ins_expires_at"), ["expires_at"], unique=False
        )
    _card_status(_NEW)


def downgrade() -> None:
    op.execute(
        "UPDATE cards SET status = 'hotlisted', hotlist_reason = 'damaged' WHERE status = 'spoiled'"
    )
    _card_status(_OLD)
    with op.batch_alter_table("card_sign_ins", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_card_sign_ins_expires_at"))
    op.drop_table("card_sign_ins")
