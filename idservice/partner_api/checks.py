"""Partner checks: "does this card or person hold this service?" and nothing more.

The answer is entitled yes or no, the last valid day, and a reason code. A partner learns
more only when the resident agreed to share it with that partner (their consent, given
when they signed in to the partner with their Kent account): ``profile`` adds their name,
``openid`` adds the partner's pairwise subject for a check by card number.

A subject resolves only within the calling partner's sector: another partner's subject,
a made-up one and one never released are all answered ``unknown``, the same answer as a
card number nobody holds. Every check is recorded (``partner_queries``) and, when it found
a resident, audited in the same transaction.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date

from cardio.cardnumber import has_valid_check_digit
from entitlements.catalogue import load_catalogue
from idservice.db import transactional
from idservice.models.base import utcnow
from idservice.models.cards import CARD_ACTIVE
from idservice.oauth import scopes
from idservice.oauth.claims import pairwise_sub
from idservice.oauth.dao import dao_remember_subject
from idservice.partner_api import dao

#: Reason codes, as documented in docs/partner-api.md and the OpenAPI description.
REASONS: dict[str, str] = {
    "entitled": "The resident holds this service today.",
    "not_entitled": "The resident does not hold this service.",
    "not_yet_valid": "The resident holds this service from a later date.",
    "expired": "The resident's entitlement to this service has ended.",
    "suspended": "The resident's entitlement to this service is suspended.",
    "card_not_valid": "This Kent Card is not valid (lost, stolen, replaced or expired).",
    "unknown": "No resident could be found for this card number or subject.",
}

#: Ledger statuses the partner is told as they are; anything else is "not entitled"
#: (a revocation's reason is the resident's business, not the partner's).
_STATUS_REASONS = {"suspended": "suspended", "expired": "expired"}


#: The shipped catalogue, loaded once per process (it is checked when loaded).
catalogue = functools.cache(load_catalogue)


@dataclass(frozen=True)
class Partner:
    """The calling client as the partner API sees it (from its token and registration)."""

    client_id: str
    name: str
    sector: str
    registered: frozenset[str]


@dataclass(frozen=True)
class CheckResult:
    """A check's answer; :data:`idservice.partner_api.schemas.CHECK_RESULT_SCHEMA` sends it
    (``subject`` and ``profile`` only when released)."""

    service: str
    entitled: bool
    reason: str
    valid_until: date | None = None
    subject: str | None = None
    profile: dict[str, str] | None = None


def decide(found: dao.Found | None, today: date) -> tuple[bool, str, date | None]:
    if found is None:
        return False, "unknown", None
    if found.card_status is not None and (
        found.card_status != CARD_ACTIVE or (found.card_expiry and found.card_expiry < today)
    ):
        return False, "card_not_valid", None
    if found.status is None:
        return False, "not_entitled", None
    if found.status != "active":
        return False, _STATUS_REASONS.get(found.status, "not_entitled"), None
    if found.valid_from is not None and today < found.valid_from:
        return False, "not_yet_valid", None
    if found.valid_until is not None and found.valid_until < today:
        return False, "expired", None
    return True, "entitled", found.valid_until


@transactional
def check(
    partner: Partner,
    service: str,
    *,
    card_number: str | None = None,
    subject: str | None = None,
    today: date | None = None,
) -> CheckResult:
    """Answer one check and record it, in one transaction (committed on return, rolled
    back if anything raises). Exactly one of card number or subject."""
    if (card_number is None) == (subject is None):
        raise ValueError("give a card number or a subject")
    today = today or date.today()
    if card_number is not None:
        looked_up_by = "card_number"
        # A wrong check digit is on no card: no need to ask the database.
        found = (
            dao.dao_find_by_card_number(card_number, service, partner.client_id)
            if has_valid_check_digit(card_number)
            else None
        )
    else:
        looked_up_by = "subject"
        assert subject is not None
        found = dao.dao_find_by_subject(partner.sector, subject, service, partner.client_id)
    entitled, reason, valid_until = decide(found, today)
    now = utcnow()
    result = CheckResult(service, entitled, reason, valid_until)
    if found is not None and reason != "card_not_valid" and found.consent_scope:
        result = _with_consented_extras(partner, result, found, looked_up_by)
    dao.dao_record_check(
        at=now,
        client_id=partner.client_id,
        client_name=partner.name,
        resident_id=found.resident_id if found else None,
        service=service,
        looked_up_by=looked_up_by,
        entitled=entitled,
        result=reason,
    )
    return result


def _with_consented_extras(
    partner: Partner, result: CheckResult, found: dao.Found, looked_up_by: str
) -> CheckResult:
    """What the resident agreed to share with this partner, if it is still registered for it."""
    agreed = set(scopes.parse(found.consent_scope)) & partner.registered
    subject = profile = None
    if "openid" in agreed and looked_up_by == "card_number":
        from flask import current_app

        subject = pairwise_sub(current_app.config["KENTCARD"], partner.sector, found.resident_id)
        dao_remember_subject(partner.sector, subject, found.resident_id)
    if "profile" in agreed:
        names = dao.dao_get_names(found.resident_id)
        if names is not None:
            profile = {"given_name": names[0], "family_name": names[1]}
    return CheckResult(
        result.service, result.entitled, result.reason, result.valid_until, subject, profile
    )


@dataclass(frozen=True)
class OwnEntitlement:
    service: str
    name: str
    status: str
    valid_from: date | None
    valid_until: date | None
    current: bool


def own_entitlements(resident_id: str, today: date | None = None) -> list[OwnEntitlement]:
    """The resident's own entitlements from the ledger's projection, by service code."""
    today = today or date.today()
    names = {s.code: s.name for s in catalogue()}
    items = []
    for row in dao.dao_list_entitlements(resident_id):
        current = (
            row.status == "active"
            and (row.valid_from is None or row.valid_from <= today)
            and (row.valid_until is None or today <= row.valid_until)
        )
        items.append(
            OwnEntitlement(
                row.service,
                names.get(row.service, row.service),
                row.status,
                row.valid_from,
                row.valid_until,
                current,
            )
        )
    return items
