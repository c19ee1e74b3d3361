"""The reader fleet page: each card reader's last contact, snapshot, queued taps and clock.

No resident's data is on it (counts of taps, never card numbers), so opening it is not an
access to a record; the role must be allowed :attr:`Action.VIEW_READERS`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import render_template
from flask.typing import ResponseReturnValue

from idservice.cards import fleet
from idservice.models.base import utcnow
from idservice.staff import bp
from idservice.staff.permissions import Action
from idservice.staff.views import _uk_time, requires

#: A reader not heard from for this long is counted as silent on the page.
SILENT_AFTER = timedelta(hours=24)


def drift_words(drift_ms: int | None) -> str:
    """The reader's clock against the service's, in words: "2.5 s ahead", "3 min behind"."""
    if drift_ms is None:
        return "Not known"
    seconds = abs(drift_ms) / 1000
    if seconds < 1:
        return "Right"
    amount = f"{seconds:.1f} s" if seconds < 60 else f"{seconds / 60:.0f} min"
    return f"{amount} {'ahead' if drift_ms > 0 else 'behind'}"


def _contact(at: datetime | None) -> str:
    return _uk_time(at) if at else "Never"


@bp.get("/readers")
@requires(Action.VIEW_READERS)
def readers() -> ResponseReturnValue:
    states = fleet.fleet()
    now = utcnow()
    silent = [
        s for s in states if s.last_contact_at is None or now - s.last_contact_at > SILENT_AFTER
    ]
    return render_template(
        "staff/readers.html",
        readers=states,
        silent=len(silent),
        clock_wrong=sum(1 for s in states if s.clock_wrong),
        flagged=sum(s.taps_flagged for s in states),
        queued=sum(s.queued_taps or 0 for s in states),
        contact=_contact,
        drift_words=drift_words,
    )
