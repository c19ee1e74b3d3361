"""Data access for clients, authorization codes, tokens and consents (``dao_*``).

Functions add to or update the current session; the caller commits, except where a
security decision must stick even though the request fails (replayed codes and reused
refresh tokens revoke, commit, and then the request is refused).
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Subquery,
    bindparam,
    exists,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from idservice.db import db_session
from idservice.models.base import utcnow
from idservice.models.oauth import AuthorizationCode, Consent, OAuthClient, OAuthToken
from idservice.models.partner_api import PairwiseSubject


def digest(value: str) -> str:
    """SHA-256 hex of a random code or refresh token: what the database keeps."""
    return hashlib.sha256(value.encode()).hexdigest()


# -- clients ---------------------------------------------------------------------------


def dao_get_client(client_id: str) -> OAuthClient | None:
    """One indexed lookup; inactive clients do not exist as far as OAuth is concerned."""
    client: OAuthClient | None = db_session.scalar(
        select(OAuthClient).where(OAuthClient.client_id == client_id)
    )
    if client is None or not client.active:
        return None
    return client


def dao_get_client_by_name(name: str) -> OAuthClient | None:
    return db_session.scalar(select(OAuthClient).where(OAuthClient.name == name))


def dao_list_clients() -> list[OAuthClient]:
    return list(db_session.scalars(select(OAuthClient).order_by(OAuthClient.id)))


def dao_add_client(client: OAuthClient) -> OAuthClient:
    db_session.add(client)
    db_session.flush()
    return client


# -- authorization codes ---------------------------------------------------------------


def dao_create_authorization_code(code: str, lifetime: int, **values: Any) -> AuthorizationCode:
    now = utcnow()
    row = AuthorizationCode(
        code_hash=digest(code),
        created_at=now,
        expires_at=now + timedelta(seconds=lifetime),
        **values,
    )
    db_session.add(row)
    return row


def dao_get_authorization_code(code: str) -> AuthorizationCode | None:
    return db_session.scalar(
        select(AuthorizationCode).where(AuthorizationCode.code_hash == digest(code))
    )


def dao_claim_authorization_code(row: AuthorizationCode) -> bool:
    """Mark the code used; False if another request used it first (atomic)."""
    result = db_session.execute(
        update(AuthorizationCode)
        .where(AuthorizationCode.id == row.id, AuthorizationCode.used_at.is_(None))
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def dao_nonce_used(client_id: str, nonce: str) -> bool:
    found = db_session.scalar(
        select(AuthorizationCode.id)
        .where(AuthorizationCode.client_id == client_id, AuthorizationCode.nonce == nonce)
        .limit(1)
    )
    return found is not None


# -- tokens ----------------------------------------------------------------------------


def dao_create_token(
    *,
    jti: str,
    client_id: str,
    scope: str,
    issued_at: datetime,
    access_expires_at: datetime,
    resident_id: str | None = None,
    refresh_token: str | None = None,
    refresh_expires_at: datetime | None = None,
    family_id: str | None = None,
    authorization_code_id: int | None = None,
    auth_time: datetime | None = None,
    acr: str | None = None,
    amr: list[str] | None = None,
) -> None:
    """One INSERT, without the ORM's unit of work: this is on the token endpoint's hot path."""
    db_session.execute(
        insert(OAuthToken).values(
            jti=jti,
            client_id=client_id,
            resident_id=resident_id,
            scope=scope,
            issued_at=issued_at,
            access_expires_at=access_expires_at,
            refresh_token_hash=digest(refresh_token) if refresh_token else None,
            refresh_expires_at=refresh_expires_at if refresh_token else None,
            family_id=family_id or (str(uuid.uuid4()) if refresh_token else None),
            authorization_code_id=authorization_code_id,
            auth_time=auth_time,
            acr=acr,
            amr=list(amr or []),
        )
    )


def dao_get_token_by_jti(jti: str) -> OAuthToken | None:
    return db_session.scalar(select(OAuthToken).where(OAuthToken.jti == jti))


def dao_get_token_by_refresh_token(refresh_token: str) -> OAuthToken | None:
    return db_session.scalar(
        select(OAuthToken).where(OAuthToken.refresh_token_hash == digest(refresh_token))
    )


def dao_claim_refresh_token(row: OAuthToken) -> bool:
    """Mark a refresh token spent; False if another request spent it first (atomic)."""
    result = db_session.execute(
        update(OAuthToken)
        .where(OAuthToken.id == row.id, OAuthToken.refresh_used_at.is_(None))
        .values(refresh_used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def _revoke(*conditions: Any) -> int:
    result = db_session.execute(
        update(OAuthToken)
        .where(OAuthToken.revoked_at.is_(None), *conditions)
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session="fetch")
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def dao_revoke_token(row: OAuthToken) -> int:
    if row.id is None:
        # A service token that was never written (see tokens.py): record it as revoked,
        # kept until it would have expired anyway.
        row.revoked_at = utcnow()
        db_session.add(row)
        return 1
    return _revoke(OAuthToken.id == row.id)


def dao_revoke_family(family_id: str) -> int:
    return _revoke(OAuthToken.family_id == family_id)


def dao_revoke_tokens_from_code(code_id: int) -> int:
    """Everything issued from one authorization code, including rotated refresh tokens."""
    return _revoke(OAuthToken.authorization_code_id == code_id)


def dao_revoke_tokens_for(resident_id: str, client_id: str) -> int:
    return _revoke(OAuthToken.resident_id == resident_id, OAuthToken.client_id == client_id)


def dao_revoke_all_tokens_for(resident_id: str) -> int:
    """Every token of the resident, for every service (death, erasure, merge)."""
    return _revoke(OAuthToken.resident_id == resident_id)


# -- consents --------------------------------------------------------------------------


def dao_get_consent(resident_id: str, client_id: str) -> Consent | None:
    return db_session.scalar(
        select(Consent).where(Consent.resident_id == resident_id, Consent.client_id == client_id)
    )


def dao_list_consents(resident_id: str) -> list[tuple[Consent, OAuthClient]]:
    rows = db_session.execute(
        select(Consent, OAuthClient)
        .join(OAuthClient, OAuthClient.client_id == Consent.client_id)
        .where(Consent.resident_id == resident_id)
        .order_by(OAuthClient.name)
    )
    return [(consent, client) for consent, client in rows]


def dao_save_consent(resident_id: str, client_id: str, scope: str) -> Consent:
    consent = dao_get_consent(resident_id, client_id)
    now = utcnow()
    if consent is None:
        consent = Consent(resident_id=resident_id, client_id=client_id, scope=scope, granted_at=now)
        db_session.add(consent)
    consent.scope = scope
    consent.updated_at = now
    return consent


def dao_delete_consent(consent: Consent) -> None:
    db_session.delete(consent)


# -- pairwise subjects -----------------------------------------------------------------


def dao_remember_subject(sector: str, subject: str, resident_id: str) -> None:
    """Record a pairwise ``sub`` released to ``sector`` (nothing if already recorded).

    A ``sub`` is an HMAC and cannot be reversed: this is how the partner API finds the
    resident behind one, and only within the sector it was released to.
    """
    make = pg_insert if db_session.get_bind().dialect.name == "postgresql" else sqlite_insert
    db_session.execute(
        make(PairwiseSubject)
        .values(sector=sector, subject=subject, resident_id=resident_id, created_at=utcnow())
        .on_conflict_do_nothing()
    )


# -- service tokens on the lean API paths ----------------------------------------------

#: A one-row table to outer-join a lookup to, so that a statement answers the token
#: columns below even when the lookup finds nothing.
ONE_ROW: Subquery = select(literal(1).label("one")).subquery("one_row")


def service_token_columns() -> tuple[ColumnElement[Any], ColumnElement[Any]]:
    """``client_active`` and ``token_refused`` for a verified service token, as columns
    to add to a lean path's one query (binds ``client_id`` and ``jti``).

    The token is good when its client is registered and active (``client_active`` true)
    and no row says the token was revoked or belongs to another client (``token_refused``
    false): a service token has no row until it is revoked (idservice/oauth/tokens.py).
    """
    clients = OAuthClient.__table__.c
    tokens = OAuthToken.__table__.c
    client_active = (
        select(clients.active)
        .where(clients.client_id == bindparam("client_id"))
        .scalar_subquery()
        .label("client_active")
    )
    token_refused = (
        exists()
        .where(
            tokens.jti == bindparam("jti"),
            or_(tokens.revoked_at.is_not(None), tokens.client_id != bindparam("client_id")),
        )
        .label("token_refused")
    )
    return client_active, token_refused


def token_is_good(row: Any) -> bool:
    """From a row with the :func:`service_token_columns`."""
    return bool(row.client_active) and not row.token_refused
