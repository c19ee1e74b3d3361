"""What the authorization and logout endpoints write, each use case owning its transaction.

``oauth/views.py`` reads the request and calls these; they commit what was written, or
roll it back, so a view never touches the database session.
"""

from __future__ import annotations

from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

from flask import Response

from idservice.db import db_session, transactional
from idservice.oauth import consents
from idservice.oauth.claims import EndUser
from idservice.oauth.server import get_server


def issue_code(grant: Any, end_user: EndUser, *, consent_given: bool = False) -> Response:
    """Authlib's authorization response; written only when it carries a code.

    With ``consent_given`` the resident's consent to the requested scopes is remembered in
    the same transaction, so a refused request keeps neither the consent nor a code.
    """
    if consent_given:
        consents.grant_consent(end_user.resident, grant.request.client, grant.request.scope)
    # Authlib's Flask integration answers with a Flask Response (Authlib has no types).
    response = cast(
        Response, get_server().create_authorization_response(grant=grant, grant_user=end_user)
    )
    issued = parse_qs(urlsplit(response.location or "").query)
    if response.status_code == 302 and "code" in issued and "error" not in issued:
        db_session.commit()
    else:
        db_session.rollback()
    return response


@transactional
def end_session_response(logout_request: Any) -> Any:
    """RP-initiated logout with a valid ID token hint: the session ends, the answer is
    Authlib's (a redirect to the service's post-logout URI, or None)."""
    return get_server().create_endpoint_response("end_session", logout_request)
