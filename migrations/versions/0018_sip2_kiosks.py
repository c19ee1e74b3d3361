"""sip2 kiosks

Library self-service kiosks speak SIP2 to the bridge (``kentcard sip2 serve``,
docs/sip2.md). Each is a registered client (an ``oauth_clients`` row without grants or
secret) with a ``sip2_kiosks`` row: its SIP2 login, the argon2id hash of its password,
where it stands, the membership service it asks
about and how it wants a member's name; ``sip2_login_failures`` counts failed logins per
kiosk and network address and locks that address out for a while. ``sip2_pin_proofs`` remembers the card + PIN
proofs accepted (card id and challenge, unique) so that none is accepted twice.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 23:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import idservice.models.types

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

_BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "sip2_kiosks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("login", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("location", sa.String(length=200), nullable=False),
        sa.Column("institution_id", sa.String(length=64), nullable=False),
        sa.Column("service", sa.String(length=128), nullable=False),
        sa.Column("name_format", sa.String(length=16), nullable=False),
        sa.Column("pin_mode", sa.String(length=8), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column(
            "last_login_at", idservice.models.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("created_at", idservice.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "name_format IN ('initials', 'initial-family', 'family-given', 'none')",
            name=op.f("ck_sip2_kiosks_name_format"),
        ),
        sa.CheckConstraint("pin_mode IN ('card', 'none')", name=op.f("ck_sip2_kiosks_pin_mode")),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["oauth_clients.client_id"],
            name=op.f("fk_sip2_kiosks_client_id_oauth_clients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sip2_kiosks")),
        sa.UniqueConstraint("client_id", name=op.f("uq_sip2_kiosks_client_id")),
        sa.UniqueConstraint("login", name=op.f("uq_sip2_kiosks_login")),
    )
    op.create_table(
        "sip2_login_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kiosk_id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column(
            "last_failed_at", idservice.models.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("locked_until", idservice.models.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["kiosk_id"],
            ["sip2_kiosks.id"],
            name=op.f("fk_sip2_login_failures_kiosk_id_sip2_kiosks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sip2_login_failures")),
    )
    with op.batch_alter_table("sip2_login_failures", schema=None) as batch_op:
        batch_op.create_index(
            "uq_sip2_login_failures_kiosk_id_address", ["kiosk_id", "address"], unique=True
        )
    op.create_table(
        "sip2_pin_proofs",
        sa.Column("id", _BIGINT, autoincrement=True, nullable=False),
        sa.Column("card_id", sa.String(length=36), nullable=False),
        sa.Column("challenge", sa.LargeBinary(length=16), nullable=False),
        sa.Column("at", idservice.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sip2_pin_proofs")),
    )
    with op.batch_alter_table("sip2_pin_proofs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sip2_pin_proofs_at"), ["at"], unique=False)
        batch_op.create_index(
            "uq_sip2_pin_proofs_card_id_challenge", ["card_id", "challenge"], unique=True
        )


def downgrade() -> None:
    with op.batch_alter_table("sip2_pin_proofs", schema=None) as batch_op:
        batch_op.drop_index("uq_sip2_pin_proofs_card_id_challenge")
        batch_op.drop_index(batch_op.f("ix_sip2_pin_proofs_at"))
    op.drop_table("sip2_pin_proofs")
    with op.batch_alter_table("sip2_login_failures", schema=None) as batch_op:
        batch_op.drop_index("uq_sip2_login_failures_kiosk_id_address")
    op.drop_table("sip2_login_failures")
    op.drop_table("sip2_kiosks")
