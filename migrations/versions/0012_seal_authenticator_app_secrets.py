"""seal authenticator app secrets

Residents' and staff members' TOTP secrets were stored in clear; from now on they are
sealed (AES-256-GCM under a key derived from SECRET_KEY, idservice/sealed.py). The columns
grow to hold the sealed form, and every existing secret is sealed in place. Downgrading
opens them again.

The key comes from ``migrate.upgrade(..., secret_key=...)`` (``kentcard db upgrade``
passes the configured one); run through Alembic alone, it is read from the environment
and instance folder as the app reads it. A database with no secrets needs no key.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 14:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

from idservice.sealed import SecretBox, is_sealed

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

TABLES = ("residents", "staff_members")


def _box() -> SecretBox:
    secret_key = context.config.attributes.get("kentcard_secret_key")
    fallbacks: tuple[str, ...] = context.config.attributes.get("kentcard_secret_key_fallbacks", ())
    if not secret_key:
        from idservice.config import Settings

        settings = Settings.from_env()
        secret_key, fallbacks = settings.secret_key, settings.secret_key_fallbacks
    return SecretBox(secret_key, fallbacks)


def _rewrite(table: str, change: str) -> None:
    """Seal (``change="seal"``) or open every secret of ``table``, row by row."""
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(f"SELECT id, totp_secret FROM {table} WHERE totp_secret IS NOT NULL")  # noqa: S608
    ).all()
    if not rows:
        return
    box = _box()
    purpose = f"{table}.totp_secret"
    for row in rows:
        value = str(row.totp_secret)
        if change == "seal":
            if is_sealed(value):
                continue
            new = box.seal(value, purpose)
        else:
            if not is_sealed(value):
                continue
            new = box.open(value, purpose)
        bind.execute(
            sa.text(f"UPDATE {table} SET totp_secret = :value WHERE id = :id"),  # noqa: S608
            {"value": new, "id": row.id},
        )


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(
                "totp_secret",
                existing_type=sa.String(length=64),
                type_=sa.String(length=160),
                existing_nullable=True,
            )
        _rewrite(table, "seal")


def downgrade() -> None:
    for table in TABLES:
        _rewrite(table, "open")
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(
                "totp_secret",
                existing_type=sa.String(length=160),
                type_=sa.String(length=64),
                existing_nullable=True,
            )
