"""Client authentication that does not tell which client ids exist.

Authlib's own methods answer an unknown client id with "The client does not exist on
this server." (status 400 in the form body) and a wrong secret with "The client cannot
authenticate with methods: ..." (401), and hash the secret only for a known client. These
replacements, used by the token, introspection and revocation endpoints and by the lean
token path alike, return no client in both cases, so Authlib gives the one answer it
gives for a failed authentication; and the secret sent is checked against a stand-in
hash when there is no client (or the client has no secret), so the work is the same.
Basic credentials are decoded strictly, in the one place request input is decoded.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from authlib.oauth2.rfc6749 import InvalidClientError

from idservice.models.oauth import OAuthClient, secret_digest
from idservice.request_input import MalformedCredentials, basic_credentials

if TYPE_CHECKING:
    from collections.abc import Callable

    QueryClient = Callable[[str], OAuthClient | None]

#: Checked against when there is no client secret to check: matches no secret anyone sends.
_STAND_IN = OAuthClient(client_secret_hash=secret_digest(secrets.token_urlsafe(32)))


def _with_secret(query_client: QueryClient, client_id: str, secret: str) -> OAuthClient | None:
    client = query_client(client_id)
    if client is None or not client.client_secret_hash:
        _STAND_IN.check_client_secret(secret)
        return None
    return client if client.check_client_secret(secret) else None


def client_secret_basic(query_client: QueryClient, request: Any) -> OAuthClient | None:
    """The client named by ``Authorization: Basic``, decoded by :mod:`idservice.request_input`.

    A header that is not base64 of UTF-8 ``client_id:secret`` is refused as RFC 6749
    section 5.2 says (401 ``invalid_client`` with a Basic challenge), never a 500.
    """
    try:
        credentials = basic_credentials(request.headers.get("Authorization"))
    except MalformedCredentials as exc:
        raise InvalidClientError(status_code=401, description=str(exc)) from None
    if credentials is None:
        return None
    client_id, secret = credentials
    if not client_id or not secret:
        return None
    return _with_secret(query_client, client_id, secret)


def client_secret_post(query_client: QueryClient, request: Any) -> OAuthClient | None:
    client_id = request.form.get("client_id")
    secret = request.form.get("client_secret")
    if not client_id or not secret:
        return None
    return _with_secret(query_client, client_id, secret)


def none(query_client: QueryClient, request: Any) -> OAuthClient | None:
    """A public client names itself and sends no secret; Authlib then checks it is one."""
    client_id = request.payload.client_id
    if not client_id or request.payload.data.get("client_secret"):
        return None
    return query_client(client_id)


METHODS = {
    "client_secret_basic": client_secret_basic,
    "client_secret_post": client_secret_post,
    "none": none,
}
