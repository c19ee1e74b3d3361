"""Registering clients (used by ``kentcard clients create`` and ``kentcard demo``).

Registration is where least privilege is decided: the grants and scopes a client gets
here are the most it can ever ask for.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import click
from flask import current_app

from idservice import audit
from idservice.models.oauth import OAuthClient, secret_digest
from idservice.oauth import dao, scopes

GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")
DEFAULT_SCOPE = "openid profile email"
DEMO_NAME = "Kent Libraries (demo)"
DEMO_CLIENT_ID = "kent-libraries-demo"
DEMO_REDIRECT_URI = "http://127.0.0.1:8080/callback"


class RegistrationError(ValueError):
    """A client that must not be registered; the message says why, for the CLI."""


@dataclass
class Registered:
    client: OAuthClient
    client_secret: str | None

    def as_dict(self) -> dict[str, Any]:
        data = client_as_dict(self.client)
        if self.client_secret is not None:
            data["client_secret"] = self.client_secret
        return data


def client_as_dict(client: OAuthClient) -> dict[str, Any]:
    return {
        "client_id": client.client_id,
        "client_name": client.name,
        "redirect_uris": list(client.redirect_uris),
        "post_logout_redirect_uris": list(client.post_logout_redirect_uris),
        "grant_types": list(client.grant_types),
        "response_types": client.response_types,
        "scope": client.scope,
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "sector_identifier": client.sector,
        "active": client.active,
    }


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_uri(uri: str, what: str) -> str:
    """https, or http on the loopback interface (development and native apps)."""
    parts = urlsplit(uri)
    if parts.fragment or not parts.hostname:
        raise RegistrationError(f"{what} must be an absolute URL without a fragment: {uri}")
    if parts.scheme == "https" or (parts.scheme == "http" and _is_loopback(parts.hostname)):
        return uri
    raise RegistrationError(f"{what} must use https (or http on 127.0.0.1/localhost): {uri}")


def _sector(explicit: str | None, redirect_uris: list[str], client_id: str) -> str:
    if explicit:
        host = urlsplit(explicit).hostname if "://" in explicit else explicit
        if not host:
            raise RegistrationError(f"Sector must be a host name: {explicit}")
        return host.lower()
    hosts = {urlsplit(uri).hostname or "" for uri in redirect_uris}
    if len(hosts) > 1:
        raise RegistrationError(
            "Redirect URIs on different hosts need --sector (the organisation's host name)."
        )
    if hosts:
        return hosts.pop().lower()
    return f"client:{client_id}"


def register_client(
    *,
    name: str,
    redirect_uris: list[str] | tuple[str, ...] = (),
    grant_types: list[str] | tuple[str, ...] = (),
    scope: str | None = None,
    public: bool = False,
    post_logout_redirect_uris: list[str] | tuple[str, ...] = (),
    sector: str | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
) -> Registered:
    """Check and add a client; the caller commits. The secret is returned once, never kept."""
    name = name.strip()
    if not name or len(name) > 200:
        raise RegistrationError("Name must be 1 to 200 characters.")
    grants = _checked_grants(grant_types, public)
    uris = [check_uri(u, "Redirect URI") for u in dict.fromkeys(redirect_uris)]
    if "authorization_code" in grants and not uris:
        raise RegistrationError("authorization_code needs at least one --redirect-uri.")
    logout_uris = [
        check_uri(u, "Post-logout redirect URI") for u in dict.fromkeys(post_logout_redirect_uris)
    ]
    names = _checked_scopes(scope, grants)
    client_id = client_id or secrets.token_urlsafe(24)
    if dao.dao_get_client(client_id) is not None:
        raise RegistrationError(f"Client id already registered: {client_id}")
    secret = None if public else (client_secret or secrets.token_urlsafe(32))
    client = dao.dao_add_client(
        OAuthClient(
            client_id=client_id,
            client_secret_hash=secret_digest(secret) if secret else None,
            name=name,
            redirect_uris=uris,
            post_logout_redirect_uris=logout_uris,
            grant_types=grants,
            scope=scopes.join(names),
            token_endpoint_auth_method="none" if public else "client_secret_basic",
            sector=_sector(sector, uris, client_id),
            active=True,
        )
    )
    audit.record(
        "oauth.client_registered",
        resident_id=None,
        actor_type="system",
        actor_id="cli",
        channel="system",
        details={"client_id": client_id, "grant_types": grants, "scopes": names},
    )
    return Registered(client, secret)


def _checked_grants(grant_types: list[str] | tuple[str, ...], public: bool) -> list[str]:
    """The grants asked for (authorization_code by default), each known and allowed."""
    grants = list(dict.fromkeys(grant_types or ["authorization_code"]))
    for grant in grants:
        if grant not in GRANT_TYPES:
            raise RegistrationError(f"Unknown grant type: {grant}")
    if "refresh_token" in grants and "authorization_code" not in grants:
        raise RegistrationError("refresh_token needs authorization_code.")
    if public and "client_credentials" in grants:
        raise RegistrationError("Public clients cannot use client_credentials.")
    return grants


def _checked_scopes(scope: str | None, grants: list[str]) -> list[str]:
    """The scope names asked for, each known and reachable through one of the grants
    (resident scopes through authorization_code, service scopes client_credentials)."""
    if scope is None:
        if "client_credentials" in grants:
            raise RegistrationError("Give --scope: service scopes are never granted by default.")
        scope = DEFAULT_SCOPE
    names = scopes.parse(scope)
    if not names:
        raise RegistrationError("Give at least one scope.")
    unknown = scopes.unknown(names)
    if unknown:
        raise RegistrationError(f"Unknown scopes: {' '.join(unknown)}")
    if any(scopes.SCOPES[n].resident for n in names) and "authorization_code" not in grants:
        raise RegistrationError("Resident scopes need the authorization_code grant.")
    if any(not scopes.SCOPES[n].resident for n in names) and "client_credentials" not in grants:
        raise RegistrationError("Service scopes need the client_credentials grant.")
    return names


def _demo_secret() -> str:
    """Derived from SECRET_KEY so that every ``kentcard demo`` can print it again."""
    key = str(current_app.config["SECRET_KEY"]).encode()
    digest = hmac.new(key, b"kentcard demo client secret", hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def create_demo_client() -> None:
    """``kentcard demo`` hook: a demo relying party to try the sign-in flow with."""
    client = dao.dao_get_client(DEMO_CLIENT_ID)
    secret = _demo_secret()
    if client is None:
        register_client(
            name=DEMO_NAME,
            redirect_uris=[DEMO_REDIRECT_URI],
            grant_types=["authorization_code", "refresh_token"],
            scope="openid profile email address phone",
            post_logout_redirect_uris=["http://127.0.0.1:8080/"],
            client_id=DEMO_CLIENT_ID,
            client_secret=secret,
        )
    click.echo(f"Demo service {DEMO_NAME}: client id {DEMO_CLIENT_ID}, client secret {secret}")
