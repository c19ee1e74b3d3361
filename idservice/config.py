"""Configuration from the environment.

Every setting has a safe embedded default so that ``make run`` needs no setup; production
sets ``KENTCARD_*`` variables. Secrets come from the environment or from a file named by
``KENTCARD_SECRET_KEY_FILE`` and are never kept in the repository.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _env_int(name: str, default: int) -> int:
    value = _env(name)
    return int(value) if value is not None else default


def _env_bool(name: str, default: bool) -> bool:
    value = _env(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def instance_path() -> Path:
    return Path(_env("KENTCARD_INSTANCE_PATH", str(PROJECT_ROOT / "instance")) or "instance")


def make_instance_folder(instance: Path) -> None:
    """Create the instance folder readable by this user only (0700).

    It holds the embedded database and the keys; the mode is given at creation, so there
    is no moment when a new folder is open to other users. An existing folder is left as
    the operator made it.
    """
    instance.mkdir(mode=0o700, parents=True, exist_ok=True)


def write_private_file(path: Path, text: str) -> bool:
    """Create ``path`` with mode 0600 from the start; False when it already exists.

    ``O_EXCL`` also makes two processes starting at once agree on one file.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    return True


def _secret_key(instance: Path) -> str:
    """The key that signs cookies and email links.

    Taken from ``KENTCARD_SECRET_KEY``, or a file named by ``KENTCARD_SECRET_KEY_FILE``;
    the embedded default keeps a random key in ``instance/secret_key`` (mode 0600) so
    restarts do not sign everybody out.
    """
    value = _env("KENTCARD_SECRET_KEY")
    if value:
        return value
    path = _env("KENTCARD_SECRET_KEY_FILE")
    if path:
        return Path(path).read_text().strip()
    key_file = instance / "secret_key"
    if not key_file.exists():
        make_instance_folder(instance)
        write_private_file(key_file, secrets.token_urlsafe(48))
    return key_file.read_text().strip()


@dataclass
class Settings:
    """Typed settings; ``as_flask_config`` hands them to Flask."""

    instance_path: Path
    database_url: str
    issuer: str
    secret_key: str
    # Earlier secret keys, kept so that secrets sealed under them (idservice/sealed.py)
    # still open after SECRET_KEY changes; seal them again with ``kentcard maintenance
    # reseal`` and then remove them.
    secret_key_fallbacks: tuple[str, ...] = ()
    redis_url: str | None = None
    secure_cookies: bool = True
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_user: str | None = None
    smtp_password: str | None = None
    mail_from: str = "Kent account <no-reply@kent.gov.uk>"
    # Token lifetimes (seconds).
    access_token_lifetime: int = 600
    id_token_lifetime: int = 3600
    refresh_token_lifetime: int = 30 * 24 * 3600
    authorization_code_lifetime: int = 60
    # How long each worker may use its copy of a registered client (seconds): a withdrawn
    # client or a new secret takes effect everywhere within this time.
    client_cache_seconds: int = 10
    # Online taps: a reader's challenge carries its clock; one more than this many seconds
    # away from ours is refused as stale (docs/card-protocol.md, "Replayed taps").
    tap_challenge_window: int = 30
    # Offline taps uploaded in batches (docs/readers.md): the challenge's time is when the
    # tap happened, so no window applies, but a tap more than this many seconds ahead of
    # our clock is refused (``future_tap``); and the largest batch body accepted.
    tap_clock_drift: int = 300
    tap_batch_max_bytes: int = 2 * 1024 * 1024
    # A new signing key is published this long before it signs, so relying parties that
    # cache the JWKS see it first.
    key_publish_lead: int = 3600
    # Sign-in protection (docs/sign-in-protection.md): growing delays, never a hard lock.
    # Failures for one account from one source before that source must wait, the first
    # wait (doubling after each further failure) and its cap, in seconds; failures older
    # than the window stop counting.
    sign_in_free_attempts: int = 5
    sign_in_base_delay: int = 30
    sign_in_max_delay: int = 15 * 60
    sign_in_window: int = 24 * 3600
    # Failures from one source across all accounts (many residents share a library's or an
    # office's address, so the allowance is larger and the window shorter).
    sign_in_source_free_attempts: int = 50
    sign_in_source_window: int = 3600
    # Failures for one account from anywhere: at this many, password sign-in for it pauses
    # until a reset link, a passkey or the Kent Card proves the owner (NIST SP 800-63B
    # 5.2.2 allows at most 100 consecutive failures).
    sign_in_account_ceiling: int = 100
    sign_in_account_window: int = 30 * 24 * 3600
    sign_in_rate_per_minute: int = 30
    # Changing the email address, password, phone number, second factors or passkeys, or
    # closing the account, needs an authentication no older than this (seconds): a
    # browser left signed in on a shared computer cannot be used to take the account over.
    reauth_window: int = 5 * 60
    # Emails a stranger can cause to one address ("already registered", password reset,
    # confirm your address), per hour; further ones are silently not sent.
    mail_per_recipient_per_hour: int = 5
    pairwise_salt: str = ""
    webauthn_rp_id: str = "localhost"
    webauthn_origin: str = "http://localhost:5000"
    # Kent Cards: numbers are issued under this ISO/IEC 7812 issuer prefix, valid for this
    # many years; the staff console personalises cards on this PC/SC reader (name or
    # prefix; empty means the first reader pcscd lists).
    card_issuer_prefix: str = "982601"
    card_validity_years: int = 5
    counter_reader: str = ""
    # The daily sweep (kentcard entitlements sweep): days before a service ends (or its
    # details are due) that the resident is invited to renew, for services whose catalogue
    # entry does not say (``[service.renewal] invite_days_before``); and how many
    # entitlements or residents it commits at a time (a crash loses at most one batch,
    # which the next run does again).
    renewal_invite_days: int = 42
    sweep_batch_size: int = 500
    # Reverse proxies (load balancers) in front of the app whose X-Forwarded-For, -Proto,
    # -Host and -Port headers are trusted; 0 trusts none. Set it only when the app can be
    # reached through those proxies alone.
    proxy_hops: int = 0
    # Request input (idservice/request_input.py): the largest request body, and the
    # largest and most deeply nested JSON body, accepted; more is refused with a 413 or a
    # 400 in the API's error shape.
    max_request_bytes: int = 64 * 1024
    json_max_bytes: int = 32 * 1024
    json_max_depth: int = 32
    # Staff can undo a merge of two resident records for this many days after it was made
    # (docs/merging-records.md); after that the merge stands.
    merge_undo_days: int = 30
    testing: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        instance = Path(overrides.pop("instance_path", None) or instance_path())
        database_url = _env("KENTCARD_DATABASE_URL") or f"sqlite:///{instance / 'kentcard.db'}"
        issuer = (_env("KENTCARD_ISSUER") or "http://127.0.0.1:5000").rstrip("/")
        values: dict[str, Any] = {
            "instance_path": instance,
            "database_url": database_url,
            "issuer": issuer,
            "secret_key": overrides.pop("secret_key", None) or _secret_key(instance),
            "secret_key_fallbacks": tuple(
                (_env("KENTCARD_SECRET_KEY_FALLBACKS", "") or "").replace(",", " ").split()
            ),
            "redis_url": _env("KENTCARD_REDIS_URL"),
            "secure_cookies": _env_bool("KENTCARD_SECURE_COOKIES", issuer.startswith("https://")),
            "smtp_host": _env("KENTCARD_SMTP_HOST"),
            "smtp_port": _env_int("KENTCARD_SMTP_PORT", 587),
            "smtp_user": _env("KENTCARD_SMTP_USER"),
            "smtp_password": _env("KENTCARD_SMTP_PASSWORD"),
            "mail_from": _env("KENTCARD_MAIL_FROM", "Kent account <no-reply@kent.gov.uk>"),
            "access_token_lifetime": _env_int("KENTCARD_ACCESS_TOKEN_LIFETIME", 600),
            "id_token_lifetime": _env_int("KENTCARD_ID_TOKEN_LIFETIME", 3600),
            "refresh_token_lifetime": _env_int("KENTCARD_REFRESH_TOKEN_LIFETIME", 30 * 86400),
            "key_publish_lead": _env_int("KENTCARD_KEY_PUBLISH_LEAD", 3600),
            "client_cache_seconds": _env_int("KENTCARD_CLIENT_CACHE_SECONDS", 10),
            "tap_challenge_window": _env_int("KENTCARD_TAP_CHALLENGE_WINDOW", 30),
            "tap_clock_drift": _env_int("KENTCARD_TAP_CLOCK_DRIFT", 300),
            "tap_batch_max_bytes": _env_int("KENTCARD_TAP_BATCH_MAX_BYTES", 2 * 1024 * 1024),
            "reauth_window": _env_int("KENTCARD_REAUTH_WINDOW", 5 * 60),
            "sign_in_free_attempts": _env_int("KENTCARD_SIGN_IN_FREE_ATTEMPTS", 5),
            "sign_in_base_delay": _env_int("KENTCARD_SIGN_IN_BASE_DELAY", 30),
            "sign_in_max_delay": _env_int("KENTCARD_SIGN_IN_MAX_DELAY", 15 * 60),
            "sign_in_window": _env_int("KENTCARD_SIGN_IN_WINDOW", 24 * 3600),
            "sign_in_source_free_attempts": _env_int("KENTCARD_SIGN_IN_SOURCE_FREE_ATTEMPTS", 50),
            "sign_in_source_window": _env_int("KENTCARD_SIGN_IN_SOURCE_WINDOW", 3600),
            "sign_in_account_ceiling": _env_int("KENTCARD_SIGN_IN_ACCOUNT_CEILING", 100),
            "sign_in_account_window": _env_int("KENTCARD_SIGN_IN_ACCOUNT_WINDOW", 30 * 86400),
            "mail_per_recipient_per_hour": _env_int("KENTCARD_MAIL_PER_RECIPIENT_PER_HOUR", 5),
            "pairwise_salt": _env("KENTCARD_PAIRWISE_SALT", "") or "",
            "webauthn_rp_id": _env("KENTCARD_WEBAUTHN_RP_ID")
            or (issuer.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]),
            "webauthn_origin": _env("KENTCARD_WEBAUTHN_ORIGIN") or issuer,
            "card_issuer_prefix": _env("KENTCARD_CARD_ISSUER_PREFIX", "982601"),
            "card_validity_years": _env_int("KENTCARD_CARD_VALIDITY_YEARS", 5),
            "counter_reader": _env("KENTCARD_COUNTER_READER", "") or "",
            "renewal_invite_days": _env_int("KENTCARD_RENEWAL_INVITE_DAYS", 42),
            "sweep_batch_size": _env_int("KENTCARD_SWEEP_BATCH_SIZE", 500),
            "proxy_hops": _env_int("KENTCARD_PROXY_HOPS", 0),
            "max_request_bytes": _env_int("KENTCARD_MAX_REQUEST_BYTES", 64 * 1024),
            "json_max_bytes": _env_int("KENTCARD_JSON_MAX_BYTES", 32 * 1024),
            "json_max_depth": _env_int("KENTCARD_JSON_MAX_DEPTH", 32),
            "merge_undo_days": _env_int("KENTCARD_MERGE_UNDO_DAYS", 30),
        }
        values.update(overrides)
        return cls(**values)
