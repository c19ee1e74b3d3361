"""The scopes a client can be registered for, and what each releases, in plain English.

One table for the consent page, discovery, registration checks and the claims released,
so that what a resident is told and what a service receives cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass

from authlib.oauth2.rfc6749 import list_to_scope, scope_to_list

from entitlements.catalogue import load_catalogue

#: The resident's own entitlements, read with their access token (the partner API's
#: ``GET /api/v1/me/entitlements``).
OWN_ENTITLEMENTS = "entitlements"


def check_scope(service: str) -> str:
    """The least-privilege scope a partner needs to check one catalogue service."""
    return f"entitlements:{service}:check"


@dataclass(frozen=True)
class Scope:
    name: str
    #: Shown on the consent page after "The service will receive:".
    description: str
    #: OpenID Connect claims the scope releases (empty for service scopes).
    claims: tuple[str, ...] = ()
    #: True for scopes about a resident (authorization code flow only).
    resident: bool = True


SCOPES: dict[str, Scope] = {
    s.name: s
    for s in (
        Scope("openid", "a code that identifies you to this service", ("sub",)),
        Scope(
            "profile",
            "your name",
            ("name", "given_name", "family_name", "locale", "updated_at"),
        ),
        Scope("email", "your email address", ("email", "email_verified")),
        Scope("address", "your home address", ("address",)),
        Scope("phone", "your phone number", ("phone_number", "phone_number_verified")),
        # Date of birth is sensitive: never part of "profile", only asked for on its own
        # (this scope, or "birthdate" in the OpenID Connect claims request parameter).
        Scope("birthdate", "your date of birth", ("birthdate",)),
        Scope(
            "entitlements:read",
            "whether residents are entitled to council services",
            resident=False,
        ),
        Scope("cards:read", "whether a Kent Card is valid", resident=False),
        # Registered card readers: report a tap and receive the decision.
        Scope("taps:write", "decisions on Kent Card taps at a reader", resident=False),
        # A kiosk's reader: answer a card + PIN sign-in challenge shown on its screen.
        Scope("card-sign-in:write", "Kent Card sign-in at a kiosk reader", resident=False),
        # Registered readers: fetch the signed offline list for their mode (docs/readers.md).
        Scope("snapshots:read", "the signed offline list of a reader mode", resident=False),
        Scope(
            OWN_ENTITLEMENTS,
            "the council services you are entitled to, and until when",
        ),
        # The partner API: one scope per catalogue service, so a partner allowed library
        # checks cannot ask about bus passes (docs/partner-api.md).
        *(
            Scope(check_scope(s.code), f"whether a resident holds: {s.name}", resident=False)
            for s in load_catalogue()
        ),
    )
}

SCOPES_SUPPORTED = list(SCOPES)
CLAIMS_SUPPORTED = sorted({c for s in SCOPES.values() for c in s.claims} | {"acr", "amr"})


def parse(scope: str | None) -> list[str]:
    """Scope string to a list without duplicates, in the order given."""
    return list(dict.fromkeys(scope_to_list(scope or "") or []))


def join(names: list[str] | set[str]) -> str:
    """A canonical scope string: known order, so equal sets give equal strings."""
    ordered = [name for name in SCOPES_SUPPORTED if name in names]
    ordered += sorted(n for n in names if n not in SCOPES)
    return str(list_to_scope(ordered))


def unknown(names: list[str]) -> list[str]:
    return [name for name in names if name not in SCOPES]


def descriptions(names: list[str]) -> list[str]:
    """Plain-English list for the consent and connected-services pages."""
    return [SCOPES[name].description for name in SCOPES_SUPPORTED if name in names]
