"""Data access for the SIP2 bridge (``dao_*``): kiosks on the ORM session, and the few
statements a patron look-up adds to the partner check's on the bridge's lean connection
(the card's key for a card + PIN proof, and the proof remembered)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import bindparam, delete, insert, select

from idservice.db import LeanConnection, LeanStatement, db_session
from idservice.models.cards import Card
from idservice.models.oauth import OAuthClient
from idservice.models.sip2 import Sip2Kiosk, Sip2LoginFailure, Sip2PinProof

if TYPE_CHECKING:
    from sqlalchemy import Table

CARDS = Card.__table__
PROOFS = cast("Table", Sip2PinProof.__table__)
KIOSKS = Sip2Kiosk.__table__
CLIENTS = OAuthClient.__table__


# -- kiosks (the ORM session; the caller commits) ---------------------------------------


def dao_get_kiosk(login: str) -> Sip2Kiosk | None:
    return db_session.scalar(select(Sip2Kiosk).where(Sip2Kiosk.login == login))


def dao_list_kiosks() -> list[tuple[Sip2Kiosk, OAuthClient]]:
    rows = db_session.execute(
        select(Sip2Kiosk, OAuthClient)
        .join(OAuthClient, OAuthClient.client_id == Sip2Kiosk.client_id)
        .order_by(Sip2Kiosk.login)
    )
    return [(kiosk, client) for kiosk, client in rows]


def dao_get_client_row(client_id: str) -> OAuthClient | None:
    """The kiosk's client row, active or not (to change it)."""
    return db_session.scalar(select(OAuthClient).where(OAuthClient.client_id == client_id))


def dao_add_kiosk(kiosk: Sip2Kiosk) -> Sip2Kiosk:
    db_session.add(kiosk)
    db_session.flush()
    return kiosk


def dao_get_failure(kiosk_id: int, address: str) -> Sip2LoginFailure | None:
    return db_session.scalar(
        select(Sip2LoginFailure).where(
            Sip2LoginFailure.kiosk_id == kiosk_id, Sip2LoginFailure.address == address
        )
    )


def dao_add_failure(kiosk_id: int, address: str) -> Sip2LoginFailure:
    failure = Sip2LoginFailure(kiosk_id=kiosk_id, address=address, failures=0)
    db_session.add(failure)
    return failure


def dao_forget_failures(kiosk_id: int, address: str | None = None) -> int:
    """Delete the kiosk's failed logins (from one address, or all); how many rows."""
    statement = delete(Sip2LoginFailure).where(Sip2LoginFailure.kiosk_id == kiosk_id)
    if address is not None:
        statement = statement.where(Sip2LoginFailure.address == address)
    result = db_session.execute(statement.execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)


def dao_locked_addresses(kiosk_id: int, now: datetime) -> int:
    return len(
        db_session.scalars(
            select(Sip2LoginFailure.id).where(
                Sip2LoginFailure.kiosk_id == kiosk_id, Sip2LoginFailure.locked_until > now
            )
        ).all()
    )


def dao_kiosk_is_active(client_id: str) -> bool:
    row = db_session.execute(
        select(KIOSKS.c.active, CLIENTS.c.active.label("client_active"))
        .select_from(KIOSKS.join(CLIENTS, CLIENTS.c.client_id == KIOSKS.c.client_id))
        .where(KIOSKS.c.client_id == client_id)
    ).first()
    return bool(row is not None and row.active and row.client_active)


# -- a patron look-up (the bridge's lean connection) ------------------------------------

_CARD_KEY = LeanStatement(
    select(CARDS.c.id, CARDS.c.public_key, CARDS.c.expiry, CARDS.c.status).where(
        CARDS.c.card_number == bindparam("card_number")
    )
)
_REMEMBER_PROOF = LeanStatement(
    insert(PROOFS).values(
        card_id=bindparam("card_id"), challenge=bindparam("challenge"), at=bindparam("at")
    )
)
_FORGET_PROOFS = LeanStatement(delete(PROOFS).where(PROOFS.c.at < bindparam("before")))


def dao_card_key(connection: LeanConnection, card_number: str) -> Any | None:
    """The card's id, registered public key, expiry and status, or None."""
    rows = connection.rows(_CARD_KEY, {"card_number": card_number})
    return rows[0] if rows else None


def dao_remember_proof(
    connection: LeanConnection, card_id: str, challenge: bytes, at: datetime
) -> None:
    """Raises SQLAlchemy's ``IntegrityError`` when this card's challenge was used before."""
    connection.run(_REMEMBER_PROOF, {"card_id": card_id, "challenge": challenge, "at": at})


def dao_forget_proofs(connection: LeanConnection, before: datetime) -> None:
    connection.run(_FORGET_PROOFS, {"before": before})
