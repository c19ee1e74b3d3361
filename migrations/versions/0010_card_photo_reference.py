"""cards.photo_reference: the photo a card bureau prints on the card

A reference to the photo held in the council's document store (never the photo itself);
nullable, since cards issued before photos were captured have none.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23 19:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cards") as batch_op:
        batch_op.add_column(sa.Column("photo_reference", sa.String(length=128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cards") as batch_op:
        batch_op.drop_column("photo_reference")
