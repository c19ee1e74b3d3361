"""Partner checks: "does this card or person hold this service?" and nothing more.

The answer is entitled yes or no, the last valid day, and a reason code. A partner learns
more only when the resident agreed to share it with that partner (their consent, given
when they signed in to the partner with their Kent account): ``profile`` adds their name,
``openid`` adds the partner's pairwise subject for a check by card number.

A subject resolves only within the calling partner's sector: another partner's subject,
a made-up one and one never released are all answered ``unknown``, the same answer as a
card number nobody holds. Every check is recorded (``partner_queries``) and, when it found
a resident, audited in the same transaction.

:func:`answer_check` is the one use case, over a :class:`CheckStore`: the view runs it on
the app's session (:func:`check`), the lean path (``partner_api/lean.py``) on its own
connection, whose look-up also checks the partner's token.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

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


class CheckStore(Protocol):
    """What answering a check needs of the database."""

    def find(
        self, partner: Partner, service: str, *, card_number: str | None, subject: str | None
    ) -> dao.Found | None:
        """The resident the card number or subject (released to the partner's sector)
        names, with their state for ``service`` and consent for this partner. Neither
        given: a card number on no card (a wrong check digit), so nobody."""

    def names(self, resident_id: str) -> tuple[str, str] | None:
        """The resident's given and family names."""

    def remember_subject(self, sector: str, subject: str, resident_id: str) -> None:
        """Record a pairwise subject released to ``sector``."""

    def record(self, values: dict[str, Any]) -> None:
        """Write the query log row and, when someone was found, the audit record."""


def answer_check(
    store: CheckStore,
    partner: Partner,
    service: str,
    *,
    card_number: str | None = None,
    subject: str | None = None,
    today: date | None = None,
    admit: Callable[[Partner], None] | None = None,
) -> CheckResult:
    """Answer one check through ``store`` and record it. Exactly one of card number or
    subject. ``admit``, when given, is called once the answer is known and before
    anything is written (the lean path counts the partner's rate limit there; the view
    counted it before it read the body)."""
    if (card_number is None) == (subject is None):
        raise ValueError("give a card number or a subject")
    today = today or date.today()
    looked_up_by = "card_number" if card_number is not None else "subject"
    if card_number is not None and not has_valid_check_digit(card_number):
        card_number = None  # a wrong check digit is on no card: looked up as nobody
    found = store.find(partner, service, card_number=card_number, subject=subject)
    entitled, reason, valid_until = decide(found, today)
    result = CheckResult(service, entitled, reason, valid_until)
    if found is not None and reason != "card_not_valid" and found.consent_scope:
        result = _with_consented_extras(store, partner, result, found, looked_up_by)
    if admit is not None:
        admit(partner)
    store.record(
        {
            "at": utcnow(),
            "client_id": partner.client_id,
            "client_name": partner.name,
            "resident_id": found.resident_id if found else None,
            "service": service,
            "looked_up_by": looked_up_by,
            "entitled": entitled,
            "result": reason,
        }
    )
    return result


def _with_consented_extras(
    store: CheckStore, partner: Partner, result: CheckResult, found: dao.Found, looked_up_by: str
) -> CheckResult:
    """What the resident agreed to share with this partner, if it is still registered for it."""
    agreed = set(scopes.parse(found.consent_scope)) & partner.registered
    subject = profile = None
    if "openid" in agreed and looked_up_by == "card_number":
        from flask import current_app

        subject = pairwise_sub(current_app.config["KENTCARD"], partner.sector, found.resident_id)
        store.remember_subject(partner.sector, subject, found.resident_id)
    if "profile" in agreed:
        names = store.names(found.resident_id)
        if names is not None:
            profile = {"given_name": names[0], "family_name": names[1]}
    return CheckResult(
        result.service, result.entitled, result.reason, result.valid_until, subject, profile
    )


class OrmCheckStore:
    """:class:`CheckStore` on the app's session (the Flask view)."""

    def find(
        self, partner: Partner, service: str, *, card_number: str | None, subject: str | None
    ) -> dao.Found | None:
        if subject is not None:
            return dao.dao_find_by_subject(partner.sector, subject, service, partner.client_id)
        if card_number is None:
            return None  # no need to ask the database
        return dao.dao_find_by_card_number(card_number, service, partner.client_id)

    def names(self, resident_id: str) -> tuple[str, str] | None:
        return dao.dao_get_names(resident_id)

    def remember_subject(self, sector: str, subject: str, resident_id: str) -> None:
        dao_remember_subject(sector, subject, resident_id)

    def record(self, values: dict[str, Any]) -> None:
        dao.dao_record_check(**values)


@transactional
def check(
    partner: Partner,
    service: str,
    *,
    card_number: str | None = None,
    subject: str | None = None,
    today: date | None = None,
) -> CheckResult:
    """:func:`answer_check` on the app's session, in one transaction (committed on
    return, rolled back if anything raises)."""
    return answer_check(
        OrmCheckStore(), partner, service, card_number=card_number, subject=subject, today=today
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
