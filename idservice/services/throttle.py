"""Growing delays after failed sign-ins, never a lock that can be turned on the owner.

A hard lock per account ("five wrong passwords and the account is closed for 15 minutes")
lets anyone who knows an email address keep its owner out. Instead every failure (wrong
password, unknown address, wrong one-time code) is counted three times, each under a keyed
hash in ``sign_in_failures`` so no address, email or IP address is stored in clear:

* **account and source together**: after ``sign_in_free_attempts`` failures for one
  account from one source, that source must wait ``sign_in_base_delay`` seconds before its
  next attempt at that account, doubling after every further failure up to
  ``sign_in_max_delay``. The owner at any other source is not slowed down at all;
* **source alone**: the same for every account tried from one source, with a larger
  allowance (``sign_in_source_free_attempts``, in ``sign_in_source_window``) because many
  residents share one address behind a library's or an office's router. One source
  guessing across many accounts slows down only itself;
* **account alone**: a ceiling (``sign_in_account_ceiling`` failures from anywhere in
  ``sign_in_account_window``) against slow guessing spread over many sources. At the
  ceiling, password sign-in for that address is paused, right or wrong password alike,
  until the owner proves control of the mailbox with a reset link or signs in with a
  passkey or their Kent Card; each of those clears the count.

Unknown addresses are counted and answered exactly as real ones. A source is an IPv4
address or an IPv6 /64 (one home or phone line can hold a whole /64). The policy and its
reasoning are in docs/sign-in-protection.md.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from flask import current_app, has_request_context, request
from sqlalchemy import and_, delete, func, or_, select

from idservice.db import db_session
from idservice.models.base import utcnow
from idservice.models.residents import SignInFailure

if TYPE_CHECKING:
    from idservice.config import Settings


@dataclass(frozen=True)
class Verdict:
    """Whether an attempt may be checked now: the wait left, or the account's pause."""

    wait_seconds: int = 0
    paused: bool = False

    @property
    def allowed(self) -> bool:
        return self.wait_seconds == 0 and not self.paused


@dataclass(frozen=True)
class Keys:
    account: str
    pair: str
    source: str


def _hash(kind: str, value: str) -> str:
    secret = current_app.config["SECRET_KEY"].encode()
    return hmac.new(secret, f"{kind}\x00{value}".encode(), hashlib.sha256).hexdigest()


def source_of(address: str | None = None) -> str:
    """The source an attempt is counted under: an IPv4 address or an IPv6 /64.

    ``address`` defaults to the current request's (behind a proxy set ``proxy_hops``).
    """
    if not address and has_request_context():
        address = request.remote_addr
    if not address:
        return "unknown"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def account_key(account: str) -> str:
    """The key of the per-account ceiling; ``account`` is a lowercased email address or
    another name for the account (``staff:`` before a member of staff's address)."""
    return _hash("account", account.lower())


def keys_for(account: str, source: str) -> Keys:
    account = account.lower()
    return Keys(
        account=account_key(account),
        pair=_hash("pair", f"{account}\x00{source}"),
        source=_hash("source", source),
    )


def delay(failures: int, free: int, base: int, cap: int) -> int:
    """Seconds to wait after ``failures`` failures: none for the first ``free``, then
    ``base`` doubling with every further failure, never more than ``cap``."""
    if failures < free:
        return 0
    return int(min(cap, base * 2 ** min(failures - free, 32)))


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def check(account: str, source: str) -> Verdict:
    """Whether an attempt at ``account`` from ``source`` may be checked now."""
    settings = current_app.config["KENTCARD"]
    keys = keys_for(account, source)
    now = utcnow()
    windows = {
        keys.pair: settings.sign_in_window,
        keys.source: settings.sign_in_source_window,
        keys.account: settings.sign_in_account_window,
    }
    rows = db_session.execute(
        select(
            SignInFailure.account_key,
            func.count(),
            func.max(SignInFailure.created_at),
        )
        .where(
            or_(
                *(
                    and_(
                        SignInFailure.account_key == key,
                        SignInFailure.created_at >= now - timedelta(seconds=window),
                    )
                    for key, window in windows.items()
                )
            )
        )
        .group_by(SignInFailure.account_key)
    ).all()
    counts = {key: (int(count), _aware(latest)) for key, count, latest in rows}
    if counts.get(keys.account, (0, now))[0] >= settings.sign_in_account_ceiling:
        return Verdict(paused=True)
    free = {
        keys.pair: settings.sign_in_free_attempts,
        keys.source: settings.sign_in_source_free_attempts,
    }
    wait = 0.0
    for key, allowance in free.items():
        count, latest = counts.get(key, (0, now))
        seconds = delay(count, allowance, settings.sign_in_base_delay, settings.sign_in_max_delay)
        if seconds:
            wait = max(wait, (latest + timedelta(seconds=seconds) - now).total_seconds())
    return Verdict(wait_seconds=math.ceil(wait) if wait > 0 else 0)


def record_failure(account: str, source: str) -> None:
    """Count a failure under all three keys; the caller commits."""
    keys = keys_for(account, source)
    now = utcnow()
    for key in (keys.pair, keys.source, keys.account):
        db_session.add(SignInFailure(account_key=key, created_at=now))


def clear(account: str, source: str | None = None) -> None:
    """Forget the account's failures after it proved its owner: the ceiling's count, and
    the count of ``source`` for this account. The source's own count is kept, or an
    attacker could wipe it by signing in to an account of their own."""
    keys = [account_key(account)]
    if source is not None:
        keys.append(keys_for(account, source).pair)
    db_session.execute(delete(SignInFailure).where(SignInFailure.account_key.in_(keys)))


def longest_window(settings: Settings) -> int:
    """How long a failure can matter, in seconds (for ``kentcard maintenance prune``)."""
    return int(
        max(
            settings.sign_in_window + settings.sign_in_max_delay,
            settings.sign_in_source_window + settings.sign_in_max_delay,
            settings.sign_in_account_window,
        )
    )
