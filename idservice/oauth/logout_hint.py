"""Which ``id_token_hint`` values may sign a browser out without asking.

OpenID Connect RP-Initiated Logout 1.0 lets a service end the resident's session here by
sending an ID token it was given. Everything this service signs uses the same keys, so a
valid signature alone proves little: an access token (``typ: at+jwt``, RFC 9068), a
partner's client_credentials token or another resident's ID token would all pass. A
hint is taken as one only when it is an ID token this service issued to one of its
registered clients (signature, ``iss``, ``typ``, ``aud`` and the claims an ID token has
and an access token never has), and it ends a session only when its ``sub`` is the
signed-in resident's pairwise subject for that client.

Expired hints: section 2 of the specification says the provider SHOULD accept an ID
token whose ``exp`` has passed while the service's session is current. One is accepted
when it was issued during the browser's current session (``iat`` not before the session
began); an older one, like any other hint that does not fit, leads to the confirmation
page. Anything that leads to the confirmation page never redirects to the service.
"""

from __future__ import annotations

import hmac
import time
from typing import TYPE_CHECKING, Any

from joserfc import jwt
from joserfc.errors import JoseError

from idservice.auth.sessions import current_session
from idservice.oauth import dao
from idservice.oauth.claims import pairwise_sub
from idservice.oauth.tokens import ALGORITHMS, keystore, settings

if TYPE_CHECKING:
    from idservice.models.oauth import OAuthClient

#: Far longer than any ID token we issue; anything longer is not one of ours.
MAX_HINT_LENGTH = 8192
#: Claims of our access tokens that our ID tokens never carry.
ACCESS_TOKEN_CLAIMS = ("client_id", "scope", "jti")


def id_token_claims(hint: str) -> dict[str, Any] | None:
    """The claims of an ID token this service issued to a registered client, else None.

    Expiry is not checked here (see the module docstring); ``exp`` must be present.
    """
    if len(hint) > MAX_HINT_LENGTH or hint.count(".") != 2:
        return None
    try:
        token = jwt.decode(hint, keystore().verification_keys(), algorithms=ALGORITHMS)
    except (JoseError, ValueError, TypeError):
        return None
    # Our ID tokens are typed "JWT"; access tokens are ACCESS_TOKEN_TYP ("at+jwt").
    if token.header.get("typ", "JWT") != "JWT":
        return None
    claims = dict(token.claims)
    issuer = settings().issuer
    aud = claims.get("aud")
    sub = claims.get("sub")
    if claims.get("iss") != issuer or not isinstance(aud, str) or aud == issuer:
        return None
    if not isinstance(sub, str) or not sub:
        return None
    if not all(isinstance(claims.get(name), int) for name in ("iat", "exp")):
        return None
    if any(name in claims for name in ACCESS_TOKEN_CLAIMS):
        return None
    client = dao.dao_get_client(aud)
    if client is None or "authorization_code" not in client.grant_types:
        return None  # only relying parties are ever given ID tokens
    return claims


def fits_this_browser(claims: dict[str, Any], client: OAuthClient | None) -> bool:
    """Whether a valid ID token may end this browser's session without asking.

    With nobody signed in there is nothing to end, so any valid hint fits (the service
    is sent back to its registered address). With a session, the hint must be about
    the signed-in resident for its client, and unexpired or issued during this session.
    """
    if client is None or client.client_id != claims.get("aud"):
        return False
    record = current_session()
    if record is None:
        return True
    expected = pairwise_sub(settings(), client.sector, record.resident_id)
    if not hmac.compare_digest(str(claims["sub"]).encode(), expected.encode()):
        return False
    if claims["exp"] > time.time():
        return True
    return bool(claims["iat"] >= int(record.created_at.timestamp()))
