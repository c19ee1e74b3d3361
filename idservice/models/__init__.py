"""All models of the identity service, imported so that the metadata is complete."""

from idservice.models.audit import AuditRecord
from idservice.models.base import Base
from idservice.models.mail import OutboundEmail
from idservice.models.oauth import AuthorizationCode, Consent, OAuthClient, OAuthToken, SigningKey
from idservice.models.residents import PasskeyCredential, Resident, ResidentSession, SignInFailure

__all__ = [
    "AuditRecord",
    "AuthorizationCode",
    "Base",
    "Consent",
    "OAuthClient",
    "OAuthToken",
    "OutboundEmail",
    "PasskeyCredential",
    "Resident",
    "ResidentSession",
    "SignInFailure",
    "SigningKey",
]
