"""Authentication levels: the ``acr`` and ``amr`` values carried in ID tokens.

How strongly the person signed in is kept apart from how well their identity was checked
(docs/identity-assurance.md). ``amr`` values follow RFC 8176.
"""

from __future__ import annotations

ACR_PASSWORD = "urn:kentcard:acr:password"  # noqa: S105 - a level name, not a secret
ACR_MFA = "urn:kentcard:acr:mfa"  # password + one-time code, or a passkey
ACR_CARD_PIN = "urn:kentcard:acr:card-pin"  # Kent Card + PIN: possession + knowledge

#: Higher is stronger; a client asking for a level accepts any level at or above it.
#: Card + PIN ranks above a second factor: the key cannot leave the card, and the card
#: itself checks the PIN (a hardware multi-factor authenticator), so a service can ask
#: for it specifically.
ACR_RANK = {ACR_PASSWORD: 1, ACR_MFA: 2, ACR_CARD_PIN: 3}
#: Advertised in discovery: the levels a resident can reach.
ACR_VALUES_SUPPORTED = [ACR_PASSWORD, ACR_MFA, ACR_CARD_PIN]

AMR_PASSWORD = ["pwd"]
AMR_PASSWORD_OTP = ["pwd", "otp", "mfa"]
AMR_PASSKEY = ["hwk", "user"]
AMR_CARD_PIN = ["sc", "pin"]  # RFC 8176: smart card, PIN


def acr_for(amr: list[str]) -> str:
    if "sc" in amr:
        return ACR_CARD_PIN
    if "mfa" in amr or "hwk" in amr:
        return ACR_MFA
    return ACR_PASSWORD


def satisfies(acr: str, requested: list[str]) -> bool:
    """True when ``acr`` meets the weakest of the requested ``acr_values``.

    Unknown requested values are ignored, as OpenID Connect asks (they are voluntary).
    """
    known = [ACR_RANK[value] for value in requested if value in ACR_RANK]
    if not known:
        return True
    return ACR_RANK.get(acr, 0) >= min(known)
