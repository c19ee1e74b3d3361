"""A key-management hook for the tests: ``KENTCARD_ISSUER_KEY_HOOK=tests.cards.key_hook:key``.

Stands in for a secrets manager: the test puts the current key for each role in ``KEYS``.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import ec

KEYS: dict[str, ec.EllipticCurvePrivateKey] = {}


def key(role: str) -> ec.EllipticCurvePrivateKey:
    if role not in KEYS:
        raise LookupError(f"the key manager has no {role} key")
    return KEYS[role]
