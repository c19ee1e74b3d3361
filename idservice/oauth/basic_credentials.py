"""``client_secret_basic`` with the header decoded by :mod:`idservice.request_input`.

Authlib decodes ``Authorization: Basic`` itself and lets a header that is not ASCII
base64 of UTF-8 escape as an exception (a 500). Registered on the server in place of
Authlib's method (``configure_server``, so the lean token path uses it too): a malformed
header is refused as RFC 6749 section 5.2 says, 401 ``invalid_client`` with a
``WWW-Authenticate: Basic`` challenge; a well-formed one goes on to Authlib's own check.
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import InvalidClientError
from authlib.oauth2.rfc6749.authenticate_client import authenticate_client_secret_basic

from idservice.request_input import MalformedCredentials, basic_credentials

METHOD = "client_secret_basic"


def authenticate(query_client: Any, request: Any) -> Any:
    """The client the Basic credentials name, None without them, or 401 when malformed."""
    try:
        credentials = basic_credentials(request.headers.get("Authorization"))
    except MalformedCredentials as exc:
        raise InvalidClientError(status_code=401, description=str(exc)) from None
    if credentials is None:
        return None
    return authenticate_client_secret_basic(query_client, request)
