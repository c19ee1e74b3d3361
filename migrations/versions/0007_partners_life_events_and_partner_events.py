"""partners, life events and the partner events outbox

Partners are OAuth clients with a contact, a webhook and subscriptions; life events
(death, move out of Kent, change of name or address) are recorded as told; the outbox
holds one Security Event Token per partner, written with the ledger events.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 19:02:24.123212
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import idservice.models.types

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "life_events",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("resident_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("occurred_on", sa.Date(), nullable=False),
        sa.Column("recorded_at", idservice.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.String(length=64), nullable=True),
        sa.Column("reference", sa.String(length=64), nullable=True),
        sa.Column("ledger_seqs", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["residents.id"], name=op.f("fk_life_events_resident_id_residents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_life_events")),
    )
    with op.batch_alter_table("life_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_life_events_resident_id"), ["resident_id"], unique=False
        )

    op.create_table(
        "partners",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("contact_email", sa.String(length=254), nullable=False),
        sa.Column("webhook_url", sa.String(length=2000), nullable=True),
        sa.Column("services", sa.JSON(), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", idservice.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", idservice.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["oauth_clients.client_id"],
            name=op.f("fk_partners_client_id_oauth_clients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partners")),
        sa.UniqueConstraint("client_id", name=op.f("uq_partners_client_id")),
    )
    op.create_table(
        "partner_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("jti", sa.String(length=64), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("life_event_id", sa.String(length=36), nullable=True),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", idservice.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column(
            "next_attempt_at", idservice.models.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("lease_until", idservice.models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "last_attempt_at", idservice.models.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", idservice.models.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["life_event_id"],
            ["life_events.id"],
            name=op.f("fk_partner_events_life_event_id_life_events"),
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
            name=op.f("fk_partner_events_partner_id_partners"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_events")),
        sa.UniqueConstraint("jti", name=op.f("uq_partner_events_jti")),
    )
    with op.batch_alter_table("partner_events", schema=None) as batch_op:
        batch_op.create_index("ix_partner_events_due", ["status", "next_attempt_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_partner_events_life_event_id"), ["life_event_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_partner_events_partner_id"), ["partner_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("partner_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_partner_events_partner_id"))
        batch_op.drop_index(batch_op.f("ix_partner_events_life_event_id"))
        batch_op.drop_index("ix_partner_events_due")

    op.drop_table("partner_events")
    op.drop_table("partners")
    with op.batch_alter_table("life_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_life_events_resident_id"))

    op.drop_table("life_events")
