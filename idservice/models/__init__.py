"""All models of the identity service, imported so that the metadata is complete."""

from idservice.models.audit import AuditRecord
from idservice.models.base import Base
from idservice.models.cards import Card, CardNumberCounter, CardSignIn, Tap
from idservice.models.duplicates import PossibleDuplicate
from idservice.models.evidence import IdentityEvidence
from idservice.models.facts import ResidentFact
from idservice.models.mail import OutboundEmail
from idservice.models.merges import ResidentMerge
from idservice.models.notices import Notice, ServiceOffer
from idservice.models.oauth import AuthorizationCode, Consent, OAuthClient, OAuthToken, SigningKey
from idservice.models.partner_api import PairwiseSubject, PartnerQuery
from idservice.models.partners import LifeEvent, Partner, PartnerEvent
from idservice.models.readers import Reader
from idservice.models.residents import PasskeyCredential, Resident, ResidentSession, SignInFailure
from idservice.models.service_requests import ServiceRequest
from idservice.models.sip2 import Sip2Kiosk, Sip2LoginFailure, Sip2PinProof
from idservice.models.snapshots import OfflineSnapshot, OfflineSnapshotDelta
from idservice.models.staff import StaffMember, StaffSession
from idservice.models.sweep import SweepRun

__all__ = [
    "AuditRecord",
    "AuthorizationCode",
    "Base",
    "Card",
    "CardNumberCounter",
    "CardSignIn",
    "Consent",
    "IdentityEvidence",
    "LifeEvent",
    "Notice",
    "OAuthClient",
    "OAuthToken",
    "OfflineSnapshot",
    "OfflineSnapshotDelta",
    "OutboundEmail",
    "PairwiseSubject",
    "Partner",
    "PartnerEvent",
    "PartnerQuery",
    "PasskeyCredential",
    "PossibleDuplicate",
    "Reader",
    "Resident",
    "ResidentFact",
    "ResidentMerge",
    "ResidentSession",
    "ServiceOffer",
    "ServiceRequest",
    "SignInFailure",
    "SigningKey",
    "Sip2Kiosk",
    "Sip2LoginFailure",
    "Sip2PinProof",
    "StaffMember",
    "StaffSession",
    "SweepRun",
    "Tap",
]
