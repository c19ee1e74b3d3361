"""Sealing authenticator app secrets again after ``SECRET_KEY`` changes.

A secret sealed under an earlier key (listed in ``KENTCARD_SECRET_KEY_FALLBACKS``) still
opens, but the earlier key can only be removed once nothing needs it: :func:`reseal` seals
each such secret again under the current key (``kentcard maintenance reseal``). The
stored text is read and written as it is, so nothing else on the record changes, and one
audit record gives the counts.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text

from idservice import audit
from idservice.db import db_session, transactional
from idservice.sealed import current_box

#: Tables with a sealed ``totp_secret`` column (the purpose each is sealed for).
SEALED_COLUMNS = ("residents", "staff_members")


@dataclass(frozen=True)
class ResealReport:
    resealed: int
    current: int


@transactional
def reseal(actor_id: str = "kentcard maintenance reseal") -> ResealReport:
    box = current_box()
    resealed = current = 0
    for table in SEALED_COLUMNS:
        purpose = f"{table}.totp_secret"
        rows = db_session.execute(
            text(f"SELECT id, totp_secret FROM {table} WHERE totp_secret IS NOT NULL")  # noqa: S608
        ).all()
        for row in rows:
            stored = str(row.totp_secret)
            if not box.needs_resealing(stored):
                current += 1
                continue
            again = box.seal(box.open(stored, purpose), purpose)
            db_session.execute(
                text(f"UPDATE {table} SET totp_secret = :value WHERE id = :id"),  # noqa: S608
                {"value": again, "id": row.id},
            )
            resealed += 1
    audit.record(
        "maintenance.resealed",
        resident_id=None,
        actor_type="system",
        actor_id=actor_id,
        channel="system",
        details={"resealed": resealed, "already_current": current, "key_id": box.key_id},
    )
    return ResealReport(resealed, current)
