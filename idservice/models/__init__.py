"""All models of the identity service, imported so that the metadata is complete."""

from idservice.models.audit import AuditRecord
from idservice.models.base import Base
from idservice.models.cards import Card, CardNumberCounter, Tap
from idservice.models.evidence import IdentityEvidence
from idservice.models.mail import OutboundEmail
from idservice.models.oauth import AuthorizationCode, Consent, OAuthClient, OAuthToken, SigningKey
from idservice.models.residents import PasskeyCredential, Resident, ResidentSession, SignInFailure
from idservice.models.staff import StaffMember, StaffSession

__all__ = [
    "AuditRecord",
    "AuthorizationCode",
    "Base",
    "Card",
    "CardNumberCounter",
    "Consent",
    "IdentityEvidence",
    "OAuthClient",
    "OAuthToken",
    "OutboundEmail",
    "PasskeyCredential",
    "Resident",
    "ResidentSession",
    "SignInFailure",
    "SigningKey",
    "StaffMember",
    "StaffSession",
    "Tap",
]
