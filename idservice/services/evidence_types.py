"""The documents and checks staff record facts from, and which facts each one proves.

Data, read as a table: a passport shows a date of birth, a Council Tax bill an address
(and so whether it is in Kent), a DWP award letter a qualifying award. Each document's
source and verification level decide how much a fact recorded from it is trusted; what
it ``proves`` decides which facts staff may record from it ("Record a fact") and which
the identity evidence form records at the same time as the document. Changing what a
document proves is a change here only. See docs/staff-console.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from entitlements.facts import FactName, VerificationLevel


@dataclass(frozen=True)
class EvidenceType:
    """A document or check: its label, the source and level of a fact recorded from it,
    and the facts it proves."""

    label: str
    source: str
    level: VerificationLevel
    proves: tuple[FactName, ...] = ()


_F = FactName
_CHECKED = VerificationLevel.CHECKED
_SEEN = "staff-seen-document"
_ADDRESS_PROOF = (_F.ADDRESS, _F.LIVES_IN_KENT)
#: Every document and check, and what each proves. Read as a table: a passport shows a
#: date of birth, a bill an address (and so whether it is in Kent), a DWP award letter a
#: qualifying award. Changing what a document proves is a change here only.
EVIDENCE_TYPES: Mapping[str, EvidenceType] = {
    "passport": EvidenceType("Passport", _SEEN, _CHECKED, (_F.DATE_OF_BIRTH,)),
    "driving-licence": EvidenceType(
        "Photocard driving licence", _SEEN, _CHECKED, (_F.DATE_OF_BIRTH, *_ADDRESS_PROOF)
    ),
    "biometric-residence-permit": EvidenceType(
        "Biometric residence permit", _SEEN, _CHECKED, (_F.DATE_OF_BIRTH,)
    ),
    "birth-certificate": EvidenceType("Birth certificate", _SEEN, _CHECKED, (_F.DATE_OF_BIRTH,)),
    "council-tax-bill": EvidenceType("Council Tax bill", _SEEN, _CHECKED, _ADDRESS_PROOF),
    "utility-bill": EvidenceType("Utility bill", _SEEN, _CHECKED, _ADDRESS_PROOF),
    "bank-statement": EvidenceType("Bank statement", _SEEN, _CHECKED, _ADDRESS_PROOF),
    "school-or-college-letter": EvidenceType(
        "Letter from a school, college or training provider",
        _SEEN,
        _CHECKED,
        (_F.SCHOOL_YEAR, _F.FULL_TIME_EDUCATION, _F.STUDIES_IN_KENT),
    ),
    "employer-letter": EvidenceType(
        "Letter from an employer or payslip", _SEEN, _CHECKED, (_F.WORKS_IN_KENT,)
    ),
    "medical-letter": EvidenceType(
        "Letter from a GP, consultant, audiologist or therapist",
        _SEEN,
        _CHECKED,
        (_F.DISABILITY, _F.NEEDS_COMPANION),
    ),
    "vision-certificate": EvidenceType(
        "Certificate of Vision Impairment", _SEEN, _CHECKED, (_F.DISABILITY,)
    ),
    "benefit-award-letter": EvidenceType(
        "Benefit award letter (PIP, DLA, War Pension, AFCS)",
        _SEEN,
        _CHECKED,
        (_F.QUALIFYING_AWARD, _F.DISABILITY),
    ),
    "dvla-letter": EvidenceType("Letter from the DVLA", _SEEN, _CHECKED, (_F.DISABILITY,)),
    "consent-form": EvidenceType(
        "Consent form signed by a parent or guardian", _SEEN, _CHECKED, (_F.PARENTAL_CONSENT,)
    ),
    "post-office-check": EvidenceType(
        "Post Office check", "trusted-partner", _CHECKED, (_F.DATE_OF_BIRTH, *_ADDRESS_PROOF)
    ),
    "dwp-hmrc-check": EvidenceType(
        "DWP or HMRC identity record check",
        "government-department",
        VerificationLevel.VERIFIED,
        (_F.DATE_OF_BIRTH, *_ADDRESS_PROOF),
    ),
    "dwp-check": EvidenceType(
        "Department for Work and Pensions award check",
        "government-department",
        VerificationLevel.VERIFIED,
        (_F.QUALIFYING_AWARD, _F.DISABILITY),
    ),
    "council-assessment": EvidenceType(
        "Council assessment",
        "council-decision",
        VerificationLevel.VERIFIED,
        (
            _F.DISABILITY,
            _F.NEEDS_COMPANION,
            _F.BLUE_BADGE_DECISION,
            _F.LIVES_IN_KENT,
        ),
    ),
}

#: The facts the identity evidence form records with the document, when it proves them:
#: the record's date of birth and address (confirmed), whether the address is in Kent
#: (asked only when the postcode does not say), and a qualifying award (chosen).
WITH_IDENTITY_EVIDENCE: tuple[FactName, ...] = (
    FactName.DATE_OF_BIRTH,
    FactName.ADDRESS,
    FactName.LIVES_IN_KENT,
    FactName.QUALIFYING_AWARD,
)

#: Facts whose value is the resident record's own (date of birth, address): staff confirm
#: that a document shows it rather than typing it again, and change the record first when
#: it does not.
FROM_THE_RECORD: tuple[FactName, ...] = (FactName.DATE_OF_BIRTH, FactName.ADDRESS)


def evidence_for(name: FactName) -> dict[str, str]:
    """The documents and checks that prove ``name``, as choices: code -> label."""
    return {code: kind.label for code, kind in EVIDENCE_TYPES.items() if name in kind.proves}
