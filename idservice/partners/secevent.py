"""Security Event Tokens (RFC 8417) for partners, pushed as in RFC 8935.

One token carries one event. ``events`` holds a single URI (below) whose value is the
event's own claims; the subject is the partner's pairwise identifier for the resident,
both as ``sub`` and as an RFC 9493 ``sub_id`` of format ``opaque``. Tokens are signed
with the service's current ES256 key (the one in the JWKS), header ``typ`` of
``secevent+jwt``. ``jti`` is fixed when the outbox row is written, so a retry is the same
event and the partner can drop the duplicate. Tokens have no ``exp`` (RFC 8417 2.2).
"""

from __future__ import annotations

from typing import Any

from joserfc.jwk import ECKey

from idservice.oauth.tokens import sign_es256

SECEVENT_TYP = "secevent+jwt"
CONTENT_TYPE = "application/secevent+jwt"

#: The event type URIs we define (documented in docs/partner-events.md).
EVENT_URI_BASE = "https://schemas.kent.gov.uk/kentcard/secevent/"
DEATH = "death"
MOVED_OUT = "moved-out-of-kent"
NAME_CHANGED = "name-changed"
ADDRESS_CHANGED = "address-changed"
ENTITLEMENT_ENDED = "entitlement-ended"
SUBJECT_MERGED = "subject-merged"
SUBJECT_UNMERGED = "subject-unmerged"
EVENT_TYPES: dict[str, str] = {
    DEATH: "A resident has died (told by a registrar or council staff)",
    MOVED_OUT: "A resident has moved out of Kent",
    NAME_CHANGED: "A resident's name has changed",
    ADDRESS_CHANGED: "A resident's address has changed",
    ENTITLEMENT_ENDED: "An entitlement to one of the partner's services has ended",
    SUBJECT_MERGED: "Two records were one person: the subject is now another subject",
    SUBJECT_UNMERGED: "A merge of two subjects was undone: each is a person of its own again",
}
#: Sent to every partner with a relationship with the resident whatever it subscribed
#: to: they change which subject identifier stands for the person, so a partner that
#: missed one would hold a record nobody updates (docs/merging-records.md).
ALWAYS_SENT = frozenset({SUBJECT_MERGED, SUBJECT_UNMERGED})


def event_uri(event_type: str) -> str:
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    return EVENT_URI_BASE + event_type


def set_claims(
    *,
    issuer: str,
    audience: str,
    jti: str,
    issued_at: int,
    subject: str,
    event_type: str,
    payload: dict[str, Any],
) -> dict[str, Any]:
    return {
        "iss": issuer,
        "iat": issued_at,
        "jti": jti,
        "aud": audience,
        "sub": subject,
        "sub_id": {"format": "opaque", "id": subject},
        "events": {event_uri(event_type): dict(payload)},
    }


def sign_set(claims: dict[str, Any], key: ECKey) -> str:
    header = {"alg": "ES256", "typ": SECEVENT_TYP, "kid": key.kid}
    return sign_es256(header, claims, key)
