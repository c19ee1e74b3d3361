"""Recording identity evidence: the document, and the facts it proves, at once.

A member of staff who sees a passport or a Council Tax bill records it once. In one
transaction: the document (its last 4 characters and a keyed hash, :mod:`identity`), the
resident's identity level derived again, and the facts the document proves
(:data:`~idservice.services.evidence_types.EVIDENCE_TYPES`, limited to
:data:`~idservice.services.evidence_types.WITH_IDENTITY_EVIDENCE`) at the document's level:
"checked" for a document seen, "verified" for a DWP or HMRC check. Every step is audited.

A date of birth or address is the record's own: staff confirm that the document shows it
rather than typing it again, and change the record first when it does not. What the form
showed is fingerprinted, so a record changed by someone else meanwhile is not recorded as
seen.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import date

from flask import current_app

from entitlements.dates import long_date
from entitlements.facts import Address, FactName, FactValue, QualifyingAward, VerificationLevel
from entitlements.gazetteer import Residency
from idservice.db import transactional
from idservice.models.evidence import IdentityEvidence
from idservice.models.residents import Resident
from idservice.models.staff import StaffMember
from idservice.services import facts
from idservice.services.evidence_types import (
    EVIDENCE_TYPES,
    FROM_THE_RECORD,
    WITH_IDENTITY_EVIDENCE,
)
from idservice.services.residents import dao_get_resident_by_id
from idservice.staff import dao, identity
from idservice.staff.services import Access, _audit

#: How each fact recorded with a document is named on the pages.
FACT_WORDS = {
    FactName.DATE_OF_BIRTH: "date of birth",
    FactName.ADDRESS: "address",
    FactName.LIVES_IN_KENT: "whether the address is in Kent",
    FactName.QUALIFYING_AWARD: "qualifying benefit or award",
}
#: Errors not about one field (the record changed meanwhile) are shown under this name.
FORM_ERROR = "form"


class EvidenceRefused(ValueError):
    """The evidence cannot be accepted; ``field`` is the form field the message belongs to."""

    def __init__(self, message: str, field: str = "reference") -> None:
        super().__init__(message)
        self.field = field


def address_words(resident: Resident) -> str:
    lines = [resident.address_line_1, resident.address_line_2, resident.town, resident.postcode]
    return ", ".join(line for line in lines if line)


@dataclass(frozen=True)
class Asks:
    """What the evidence form asks about one document for one resident."""

    document_type: str
    label: str
    #: The record's values the document must show, in words, to be confirmed.
    confirm: dict[FactName, str] = field(default_factory=dict)
    #: Why the form asks whether the address is in Kent (the postcode does not say).
    lives_in_kent: str | None = None
    award: bool = False
    level: VerificationLevel = VerificationLevel.CHECKED

    @property
    def facts(self) -> list[FactName]:
        asked = [*self.confirm]
        if self.lives_in_kent:
            asked.append(FactName.LIVES_IN_KENT)
        if self.award:
            asked.append(FactName.QUALIFYING_AWARD)
        return asked

    @property
    def confirm_names(self) -> list[str]:
        return [name.value for name in self.confirm]

    @property
    def confirm_words(self) -> str:
        """What a document might show differently, such as "date of birth or address"."""
        return " or ".join(FACT_WORDS[name] for name in self.confirm)

    @property
    def fingerprint(self) -> str:
        """Short digest of the values shown, to notice the record changing under the form."""
        shown = "\n".join(f"{name.value}={words}" for name, words in self.confirm.items())
        return hashlib.sha256(shown.encode()).hexdigest()[:16]


def asks_for(resident: Resident, document_type: str) -> Asks:
    """What recording ``document_type`` for ``resident`` needs staff to confirm or choose."""
    kind = EVIDENCE_TYPES[document_type]
    proves = [name for name in WITH_IDENTITY_EVIDENCE if name in kind.proves]
    shown = {
        FactName.DATE_OF_BIRTH: long_date(resident.date_of_birth),
        FactName.ADDRESS: address_words(resident),
    }
    confirm = {name: shown[name] for name in proves if name in FROM_THE_RECORD}
    lives_in_kent = None
    if FactName.LIVES_IN_KENT in proves:
        residency, councils = facts.residency(Address(resident.postcode, resident.uprn))
        if residency is Residency.NEEDS_EVIDENCE:
            lives_in_kent = (
                f"Part of the {resident.postcode.split(' ')[0]} postcode district is in Kent "
                f"and part is not ({', '.join(councils)}), so the postcode alone does not say"
            )
        elif residency is Residency.UNKNOWN:
            lives_in_kent = (
                f"The council's postcode list does not know {resident.postcode}, so the "
                "postcode alone does not say"
            )
    return Asks(
        document_type,
        identity.DOCUMENT_TYPES[document_type].label,
        confirm,
        lives_in_kent,
        FactName.QUALIFYING_AWARD in proves,
        kind.level,
    )


@transactional
def what_to_ask(resident_id: str, document_type: str) -> Asks:
    return asks_for(dao_get_resident_by_id(resident_id), document_type)


@dataclass(frozen=True)
class Seen:
    """What the member of staff confirmed or chose from the document."""

    confirmed: frozenset[FactName] = frozenset()
    lives_in_kent: bool | None = None
    award: QualifyingAward | None = None
    award_ends: date | None = None
    #: :attr:`Asks.fingerprint` of the page the answers came from; None from code.
    shown: str | None = None


@dataclass(frozen=True)
class Recorded:
    evidence: IdentityEvidence
    level: str
    #: Facts recorded now, and facts already held as well as this (nothing new to record).
    facts: list[FactName]
    already: list[FactName]


def _hash_key() -> bytes:
    """A key of its own, derived from the app secret, for document references."""
    secret = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(secret, b"kentcard identity evidence", hashlib.sha256).digest()


def _check_seen(asks: Asks, seen: Seen) -> None:
    """The same rules as the form, kept here so no caller can record less than it proves."""
    if seen.shown is not None and seen.shown != asks.fingerprint:
        raise EvidenceRefused(
            "The resident's record changed while this page was open. Check the details "
            "below against the document again",
            FORM_ERROR,
        )
    missing = [FACT_WORDS[name] for name in asks.confirm if name not in seen.confirmed]
    if missing:
        raise EvidenceRefused(
            f"Confirm the document shows the {' and '.join(missing)} on the record. If it "
            "shows something different, change the record first",
            "confirm",
        )
    if set(seen.confirmed) - set(asks.confirm):
        raise EvidenceRefused("This document does not show that", "confirm")
    if asks.lives_in_kent and seen.lives_in_kent is None:
        raise EvidenceRefused("Select whether the address is in Kent", "lives_in_kent")
    if asks.award and seen.award is None:
        raise EvidenceRefused("Select the award the letter shows", "qualifying_award")


def _values(resident: Resident, asks: Asks, seen: Seen) -> list[tuple[FactName, FactValue]]:
    values: list[tuple[FactName, FactValue]] = []
    if FactName.DATE_OF_BIRTH in asks.confirm:
        values.append((FactName.DATE_OF_BIRTH, resident.date_of_birth))
    if FactName.ADDRESS in asks.confirm:
        values.append((FactName.ADDRESS, Address(resident.postcode, resident.uprn)))
    if asks.lives_in_kent and seen.lives_in_kent is not None:
        values.append((FactName.LIVES_IN_KENT, seen.lives_in_kent))
    if asks.award and seen.award is not None:
        values.append((FactName.QUALIFYING_AWARD, seen.award))
    return values


@transactional
def record_evidence(
    staff: StaffMember,
    access: Access,
    document_type: str,
    reference: str,
    seen: Seen | None = None,
) -> Recorded:
    """Store what was seen (last 4 characters and a keyed hash), re-derive the identity
    level and record the facts the document proves, all or nothing."""
    if document_type not in identity.DOCUMENT_TYPES:
        raise EvidenceRefused("Select the type of document or check", "document_type")
    seen = seen or Seen()
    resident = dao_get_resident_by_id(access.resident_id)
    asks = asks_for(resident, document_type)
    _check_seen(asks, seen)
    digest = identity.reference_hash(_hash_key(), document_type, reference)
    for earlier in dao.dao_find_evidence_by_hash(document_type, digest):
        if earlier.resident_id == resident.id:
            raise EvidenceRefused("This document is already recorded on this resident's record")
        if identity.DOCUMENT_TYPES[document_type].personal:
            raise EvidenceRefused(
                "This document is recorded on another person's record. Do not accept it: "
                "ask your team leader to look into it"
            )
    last4 = identity.last4(reference)
    evidence = dao.dao_add_evidence(
        resident_id=resident.id,
        document_type=document_type,
        reference_last4=last4,
        reference_hash=digest,
        checked_by_staff_id=staff.id,
        channel=access.channel,
    )
    before = resident.identity_level
    types = [e.document_type for e in dao.dao_get_evidence_for_resident(resident.id)]
    resident.identity_level = identity.level_for(types)
    by = facts.Recorder("staff", staff.id, access.channel, staff.role, access.reason)
    recorded: list[FactName] = []
    already: list[FactName] = []
    for name, value in _values(resident, asks, seen):
        expires = seen.award_ends if name is FactName.QUALIFYING_AWARD else None
        row = facts.record_seen(
            resident,
            name,
            value,
            evidence_type=document_type,
            evidence_last4=last4,
            by=by,
            expires_on=expires,
        )
        (recorded if row is not None else already).append(name)
    _audit(
        "identity.evidence_recorded",
        staff,
        resident_id=resident.id,
        channel=access.channel,
        reason=access.reason,
        document_type=document_type,
        fields=["identity_level"] if resident.identity_level != before else [],
        identity_level=resident.identity_level,
        facts=[name.value for name in recorded],
    )
    return Recorded(evidence, resident.identity_level, recorded, already)
