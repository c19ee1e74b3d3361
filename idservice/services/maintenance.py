"""Pruning what the service keeps only for a while.

Sign-in attempts, spent authorization codes, expired tokens and card sign-in challenges
are written on every sign-in and every token; they matter only until they expire, and
the tables grow without end unless something removes them. :func:`prune` removes each
kind once nothing can depend on it any more, plus a grace period:

* **sign-in failures** once they can no longer slow down or pause a sign-in (older than
  the longest of the throttle's windows, ``throttle.longest_window``);
* **tokens** once the access token and any refresh token have expired; a refresh family
  goes as a whole, after its last member, so a spent refresh token used again while the
  family lives is still recognised and revokes it;
* **authorization codes** once expired and no token issued from them is kept, so a
  replayed code still revokes what was issued from it for as long as that can be used;
* **card sign-in challenges** once expired.

``kentcard maintenance prune`` runs it (daily, from cron or a systemd timer); one audit
record says what was removed, in counts. Residents' records, consents, the ledger, the
audit trail, partner query logs and the outbox are never pruned here: their retention
is a records-management decision, not housekeeping.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import CursorResult, Delete, delete, exists, or_, select

from idservice import audit
from idservice.config import Settings
from idservice.db import db_session
from idservice.models.cards import CardSignIn
from idservice.models.oauth import AuthorizationCode, OAuthToken
from idservice.models.residents import SignInFailure
from idservice.services import throttle

DEFAULT_GRACE = timedelta(hours=24)


@dataclass(frozen=True)
class PruneReport:
    """How many rows of each kind were removed (or would be, on a dry run)."""

    sign_in_failures: int
    tokens: int
    authorization_codes: int
    card_sign_ins: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    @property
    def total(self) -> int:
        return sum(self.as_dict().values())


def prune(
    settings: Settings,
    now: datetime,
    *,
    grace: timedelta = DEFAULT_GRACE,
    dry_run: bool = False,
    actor_id: str = "kentcard maintenance prune",
) -> PruneReport:
    """Remove what expired more than ``grace`` before ``now``, in one transaction (all or
    nothing); ``dry_run`` counts and keeps everything."""
    if grace < timedelta(0):
        raise ValueError("the grace period cannot be negative")
    cutoff = now - grace
    counted = timedelta(seconds=throttle.longest_window(settings))
    try:
        failures = _deleted(
            delete(SignInFailure).where(SignInFailure.created_at < cutoff - counted)
        )
        live_families = select(OAuthToken.family_id).where(
            OAuthToken.family_id.is_not(None),
            or_(
                OAuthToken.access_expires_at >= cutoff,
                OAuthToken.refresh_expires_at >= cutoff,
            ),
        )
        tokens = _deleted(
            delete(OAuthToken).where(
                OAuthToken.access_expires_at < cutoff,
                or_(
                    OAuthToken.refresh_expires_at.is_(None),
                    OAuthToken.refresh_expires_at < cutoff,
                ),
                or_(OAuthToken.family_id.is_(None), OAuthToken.family_id.not_in(live_families)),
            )
        )
        issued_from = exists().where(OAuthToken.authorization_code_id == AuthorizationCode.id)
        codes = _deleted(
            delete(AuthorizationCode).where(AuthorizationCode.expires_at < cutoff, ~issued_from)
        )
        challenges = _deleted(delete(CardSignIn).where(CardSignIn.expires_at < cutoff))
        report = PruneReport(failures, tokens, codes, challenges)
        if dry_run:
            db_session.rollback()
            return report
        audit.record(
            "maintenance.pruned",
            resident_id=None,
            actor_type="system",
            actor_id=actor_id,
            channel="system",
            details={**report.as_dict(), "grace_hours": grace.total_seconds() / 3600},
        )
        db_session.commit()
    except BaseException:
        db_session.rollback()
        raise
    return report


def _deleted(statement: Delete) -> int:
    result = db_session.execute(statement.execution_options(synchronize_session=False))
    return int(cast("CursorResult[object]", result).rowcount or 0)
