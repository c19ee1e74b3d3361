"""Residents' consent to share with a service: granted on the consent page, remembered,
and withdrawn from the account's connected-services page. Both are audited."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from idservice import audit
from idservice.db import transactional
from idservice.oauth import dao, scopes
from idservice.services.residents import NotFound

if TYPE_CHECKING:
    from idservice.models.oauth import OAuthClient
    from idservice.models.residents import Resident


@dataclass(frozen=True)
class ConnectedService:
    client_id: str
    name: str
    shares: list[str]
    granted_at: datetime


def consent_covers(resident_id: str, client_id: str, scope: str) -> bool:
    """True when the resident already agreed to share at least these scopes."""
    consent = dao.dao_get_consent(resident_id, client_id)
    if consent is None:
        return False
    return set(scopes.parse(scope)) <= set(scopes.parse(consent.scope))


def grant_consent(resident: Resident, client: OAuthClient, scope: str) -> None:
    """Remember the consent (adding to any earlier one); the caller commits (with the code
    it issues: ``authorization.issue_code``)."""
    earlier = dao.dao_get_consent(resident.id, client.client_id)
    names = set(scopes.parse(scope))
    if earlier is not None:
        names |= set(scopes.parse(earlier.scope))
    dao.dao_save_consent(resident.id, client.client_id, scopes.join(names))
    audit.record(
        "oauth.consent_granted",
        resident_id=resident.id,
        actor_type="resident",
        actor_id=resident.id,
        channel="web",
        details={"client_id": client.client_id, "scopes": scopes.parse(scope)},
    )


@transactional
def withdraw_consent(resident: Resident, client_id: str) -> str:
    """Forget the consent and revoke the service's tokens; returns the service's name.

    :class:`NotFound` (a 404) when the resident gave this service no consent.
    """
    consent = dao.dao_get_consent(resident.id, client_id)
    if consent is None:
        raise NotFound("consent")
    client = dao.dao_get_client(client_id)
    dao.dao_delete_consent(consent)
    revoked = dao.dao_revoke_tokens_for(resident.id, client_id)
    audit.record(
        "oauth.consent_withdrawn",
        resident_id=resident.id,
        actor_type="resident",
        actor_id=resident.id,
        channel="web",
        details={"client_id": client_id, "tokens_revoked": revoked},
    )
    return client.name if client else client_id


def connected_services(resident_id: str) -> list[ConnectedService]:
    return [
        ConnectedService(
            client_id=client.client_id,
            name=client.name,
            shares=scopes.descriptions(scopes.parse(consent.scope)),
            granted_at=consent.granted_at,
        )
        for consent, client in dao.dao_list_consents(resident_id)
    ]
