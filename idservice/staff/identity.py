"""Identity evidence: the kinds of document staff accept, and the rules that turn the
evidence on a record into the resident's identity level.

The rules are plain data and one pure function so they can be read next to
docs/identity-assurance.md and tested without a database:

- ``partner-verified``: a trusted partner (the Post Office, DWP or HMRC) checked the
  resident's identity;
- ``documents-seen``: staff saw at least one photo identity document and at least one
  document showing the resident's address;
- otherwise ``self-declared``.

Every document type here is also a fact evidence type
(:data:`idservice.services.evidence_types.EVIDENCE_TYPES`), which says which facts it
proves; recording the document records those facts at the same time
(:mod:`idservice.staff.evidence`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass

from idservice.models.evidence import (
    LEVEL_DOCUMENTS_SEEN,
    LEVEL_PARTNER_VERIFIED,
    LEVEL_SELF_DECLARED,
)

PHOTO_ID = "photo identity"
ADDRESS = "address"
SUPPORTING = "supporting"
PARTNER = "partner check"


@dataclass(frozen=True)
class DocumentType:
    label: str
    kind: str
    #: One person's document: if another record already has it, something is wrong.
    personal: bool


DOCUMENT_TYPES: dict[str, DocumentType] = {
    "passport": DocumentType("Passport", PHOTO_ID, personal=True),
    "driving-licence": DocumentType("Photocard driving licence", PHOTO_ID, personal=True),
    "biometric-residence-permit": DocumentType(
        "Biometric residence permit", PHOTO_ID, personal=True
    ),
    "birth-certificate": DocumentType("Birth certificate", SUPPORTING, personal=True),
    # A household shares these, so the same bill on two records is normal.
    "utility-bill": DocumentType("Utility bill", ADDRESS, personal=False),
    "council-tax-bill": DocumentType("Council Tax bill", ADDRESS, personal=False),
    "bank-statement": DocumentType("Bank statement", ADDRESS, personal=False),
    # A DWP letter: the award it shows is recorded with it; it is not proof of identity.
    "benefit-award-letter": DocumentType(
        "Benefit award letter from the DWP (PIP, DLA, War Pension, AFCS)", SUPPORTING, personal=True
    ),
    "post-office-check": DocumentType("Post Office identity check", PARTNER, personal=True),
    "dwp-hmrc-check": DocumentType("DWP or HMRC record check", PARTNER, personal=True),
}

LEVEL_NAMES = {
    LEVEL_SELF_DECLARED: "Self-declared (not checked)",
    LEVEL_DOCUMENTS_SEEN: "Documents seen by council staff",
    LEVEL_PARTNER_VERIFIED: "Checked by a trusted partner",
}


def level_for(document_types: Iterable[str]) -> str:
    """The identity level that evidence of these document types supports."""
    kinds = {DOCUMENT_TYPES[t].kind for t in document_types if t in DOCUMENT_TYPES}
    if PARTNER in kinds:
        return LEVEL_PARTNER_VERIFIED
    if PHOTO_ID in kinds and ADDRESS in kinds:
        return LEVEL_DOCUMENTS_SEEN
    return LEVEL_SELF_DECLARED


def normalise_reference(text: str) -> str:
    """Upper case without spaces or dashes, so "12 34-56" and "123456" are one document."""
    return re.sub(r"[\s\-/]", "", text).upper()


def reference_hash(secret: bytes, document_type: str, reference: str) -> str:
    """A keyed hash: recognises a document again without anyone being able to read it."""
    message = f"{document_type}:{normalise_reference(reference)}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def last4(reference: str) -> str:
    return normalise_reference(reference)[-4:]
