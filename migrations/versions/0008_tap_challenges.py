"""taps keep the card's challenge: a signed tap answer is accepted once

The unique index on (card number, challenge) refuses a replayed answer and replaces the
plain index on card number (it serves the same look-ups).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 19:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("taps", schema=None) as batch_op:
        batch_op.add_column(sa.Column("challenge", sa.LargeBinary(length=16), nullable=True))
        batch_op.drop_index(batch_op.f("ix_taps_card_number"))
        batch_op.create_index(
            "uq_taps_card_number_challenge", ["card_number", "challenge"], unique=True
        )


def downgrade() -> None:
    with op.batch_alter_table("taps", schema=None) as batch_op:
        batch_op.drop_index("uq_taps_card_number_challenge")
        batch_op.create_index(batch_op.f("ix_taps_card_number"), ["card_number"], unique=False)
        batch_op.drop_column("challenge")
