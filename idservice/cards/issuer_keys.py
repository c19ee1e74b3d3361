"""Where the issuer's private keys are opened from: passphrase, passphrase file or a hook.

Settings (environment), first match wins:

- ``KENTCARD_ISSUER_KEY_HOOK=module:callable``: a key-management hook. ``callable(role)``
  returns the current private key (``cryptography`` P-256) for ``"certificate"`` or
  ``"personalisation"``, for instance from a secrets manager; no private key is written
  under the instance folder.
- ``KENTCARD_ISSUER_PASSPHRASE``: the passphrase itself (at least 12 characters to write
  keys).
- ``KENTCARD_ISSUER_PASSPHRASE_FILE``: a file holding it (first line), e.g. a mounted secret.
- Development only: ``<instance>/issuer-passphrase.dev``, a random passphrase that
  ``kentcard issuer init`` writes when nothing above is set and the database is the
  embedded SQLite file, so ``make run`` and the tests need no interaction. A production
  issuer never has this file: set one of the above and delete it.

The ledger's signing key (``<instance>/ledger-signing-key.pem``) is encrypted with the same
passphrase (:func:`ledger_signing_key`).
"""

from __future__ import annotations

import importlib
import logging
import os
import secrets
from pathlib import Path

from cardio.issuer import IssuerError, IssuerStore, KeyHook, KeyProtection
from entitlements.ledger.signing import SigningKey, load_or_create_key
from idservice.config import make_instance_folder, write_private_file

log = logging.getLogger(__name__)

DEV_PASSPHRASE_FILE = "issuer-passphrase.dev"  # noqa: S105 (a file name, not a secret)


def _hook(spec: str) -> KeyHook:
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise IssuerError(f"KENTCARD_ISSUER_KEY_HOOK must be module:callable, not {spec!r}")
    try:
        found = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise IssuerError(f"KENTCARD_ISSUER_KEY_HOOK {spec!r} cannot be loaded: {exc}") from None
    if not callable(found):
        raise IssuerError(f"KENTCARD_ISSUER_KEY_HOOK {spec!r} is not callable")
    return found  # type: ignore[no-any-return]


def key_protection(instance: Path, *, create_development: bool = False) -> KeyProtection:
    """The configured protection; ``create_development`` writes the development
    passphrase file when nothing is configured (``issuer init`` on the embedded default)."""
    hook = os.environ.get("KENTCARD_ISSUER_KEY_HOOK", "").strip()
    if hook:
        return KeyProtection(hook=_hook(hook), source=f"KENTCARD_ISSUER_KEY_HOOK={hook}")
    passphrase = os.environ.get("KENTCARD_ISSUER_PASSPHRASE", "")
    if passphrase:
        return KeyProtection(passphrase.encode(), source="KENTCARD_ISSUER_PASSPHRASE")
    named = os.environ.get("KENTCARD_ISSUER_PASSPHRASE_FILE", "").strip()
    if named:
        try:
            text = Path(named).read_text().splitlines()
        except OSError as exc:
            raise IssuerError(
                f"KENTCARD_ISSUER_PASSPHRASE_FILE {named} cannot be read: {exc.strerror}"
            ) from None
        first = text[0] if text else ""
        return KeyProtection(first.encode(), source=f"KENTCARD_ISSUER_PASSPHRASE_FILE ({named})")
    development = instance / DEV_PASSPHRASE_FILE
    if not development.exists() and create_development:
        make_instance_folder(instance)
        write_private_file(development, secrets.token_urlsafe(32) + "\n")
    if development.exists():
        first = development.read_text().splitlines()[0]
        return KeyProtection(first.encode(), source=f"{development} (development only)")
    return KeyProtection()


#: ``<instance>/issuer``, holding ``issuer.json`` (:attr:`IssuerStore.metadata_path`).
ISSUER_FOLDER = "issuer"


def issuer_store(instance: Path, *, create_development: bool = False) -> IssuerStore:
    """The issuer folder ``<instance>/issuer`` with its configured protection."""
    protection = key_protection(instance, create_development=create_development)
    return IssuerStore(instance / ISSUER_FOLDER, protection)


def ledger_signing_key(instance: Path, database_url: str) -> SigningKey:
    """The ledger's signing key, encrypted with the issuer key passphrase.

    The same passphrase source as the issuer's keys (on the embedded default, the
    development passphrase file is created if need be). A key found unencrypted is
    rewritten encrypted the first time it is opened with a passphrase. With no passphrase
    configured (a key-management hook alone, or nothing set on a production database) the
    key is kept only by its file mode, and a warning says so.
    """
    embedded = database_url.startswith("sqlite")
    protection = key_protection(instance, create_development=embedded)
    if protection.passphrase is None:
        log.warning(
            "the ledger signing key is not encrypted: set KENTCARD_ISSUER_PASSPHRASE or "
            "KENTCARD_ISSUER_PASSPHRASE_FILE"
        )
    return load_or_create_key(instance, protection.passphrase)
