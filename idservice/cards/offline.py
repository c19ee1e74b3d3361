"""Offline taps uploaded in batches: the use case behind ``POST /api/v1/taps/batch``.

A reader that decided taps without the service (from its snapshot) uploads them later,
in order, in batches (docs/readers.md, "Offline taps and the batch upload"). For each
tap the service answers one of:

* ``recorded``: the card was verified again with the issuer's keys (the pieces of the
  online path: :func:`idservice.cards.taps.parse_tap`, :func:`cardio.verify.verify_tap`,
  :func:`idservice.cards.decisions.decide_rows`) and the tap recorded in ``taps`` with
  the reader's decision beside the service's. No freshness window: the challenge's time
  is when the tap happened, and the card's expiry and the entitlements are judged on
  that day; the hotlist as it is now. A tap the reader allowed that the service refuses
  is flagged ``follow_up`` and counted on the reader: never lost.
* ``duplicate``: this reader's tap id was recorded before (a batch sent again after the
  reader lost the answer): the first recording's decision, nothing recorded again.
* ``refused`` with a code: ``unprocessable_tap`` (not a Kent Card answer),
  ``future_tap`` (the challenge's time is ahead of the service's clock by more than the
  drift allowance), ``replayed_tap`` (this card answer was recorded before under another
  tap). Nothing is recorded; the reader keeps the tap in its refused file.

The whole batch is one transaction: the taps, the reader's counts and its last contact
(:func:`idservice.cards.fleet.record_contact`) are written together or not at all. The
unique index on (reader, tap id) makes the batch idempotent even when the same batch
arrives twice at once: the second insert skips what the first wrote.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cardio.verify import TapRejected, challenge_time, verify_tap
from idservice.api_errors import ApiError
from idservice.cards import fleet, fleet_dao
from idservice.cards.decisions import MODE_SERVICES, TapDecision, decide_rows
from idservice.cards.fleet import ReaderReport
from idservice.cards.taps import ReplayedTap, TapInput, parse_tap, tap_keyring
from idservice.db import transaction
from idservice.models.base import utcnow

log = logging.getLogger(__name__)

RECORDED, DUPLICATE, REFUSED = "recorded", "duplicate", "refused"
RESULTS = (RECORDED, DUPLICATE, REFUSED)
_CODE, _REASON = 32, 200  # the taps table's column sizes


class FutureTap(ApiError):
    """A tap whose challenge time is ahead of the service's clock beyond the allowance."""

    status, code = 422, "future_tap"


#: Each code a tap can be refused with, for the OpenAPI document.
REFUSAL_CODES = ("unprocessable_tap", "future_tap", "replayed_tap", "invalid_request")


@dataclass(frozen=True)
class TapResult:
    """The service's answer for one uploaded tap."""

    id: str
    result: str
    decision: str | None  # the service's: "allow", "deny"; None when refused
    code: str
    reason: str
    follow_up: bool = False


@dataclass(frozen=True)
class BatchAnswer:
    results: list[TapResult]
    service_time: datetime
    clock_drift_ms: int

    def _count(self, result: str) -> int:
        return sum(1 for r in self.results if r.result == result)

    @property
    def recorded(self) -> int:
        return self._count(RECORDED)

    @property
    def duplicates(self) -> int:
        return self._count(DUPLICATE)

    @property
    def refused(self) -> int:
        return self._count(REFUSED)

    @property
    def flagged(self) -> int:
        return sum(1 for r in self.results if r.result == RECORDED and r.follow_up)


@dataclass
class _Checked:
    """A tap that passed its checks, waiting for its decision and its row."""

    index: int
    sent: dict[str, Any]
    tap: TapInput
    at: datetime
    card_number: str | None = None
    decision: TapDecision | None = None
    public_point: bytes | None = None
    genuine: bool = False


def _refused(tap_id: str, error: ApiError) -> TapResult:
    return TapResult(tap_id, REFUSED, None, error.code, error.message)


def _recorded_as(tap_id: str, row: Any) -> TapResult:
    return TapResult(tap_id, DUPLICATE, row.decision, row.code, row.reason, bool(row.follow_up))


def _check(index: int, sent: dict[str, Any], now: datetime, drift: float) -> _Checked:
    """Form, then time: the documented ``ApiError`` of a tap refused."""
    tap = parse_tap(sent)
    happened = challenge_time(tap.challenge)
    ahead = happened - now.timestamp()
    if ahead > drift:
        raise FutureTap(
            f"The tap's time is {ahead:.0f} s ahead of the service's clock (at most "
            f"{drift:g} s): check the reader's clock"
        )
    return _Checked(index, sent, tap, datetime.fromtimestamp(happened, UTC))


def _verify(checked: _Checked, keyring: Any) -> None:
    """The card checked again, on the day the tap happened."""
    tap = checked.tap
    try:
        card = verify_tap(tap.answer, tap.challenge, tap.signature, keyring, checked.at.date())
    except TapRejected as rejected:
        checked.card_number = rejected.card_number
        checked.decision = TapDecision(False, rejected.reason.code, rejected.reason.words)
        return
    checked.card_number, checked.public_point, checked.genuine = (
        card.card_number,
        card.public_point,
        True,
    )


def _decide(checked: list[_Checked]) -> None:
    """The register's decision for every genuine tap: one query per mode."""
    by_mode: dict[str, list[_Checked]] = defaultdict(list)
    for each in checked:
        if each.genuine:
            by_mode[each.tap.mode].append(each)
    for mode, taps in by_mode.items():
        rows = fleet_dao.dao_cards_with_states(
            [t.card_number for t in taps if t.card_number], MODE_SERVICES[mode]
        )
        for each in taps:
            found = rows.get(each.card_number or "", [])
            each.decision = decide_rows(found, mode, each.at.date(), each.public_point)


def _row(client_id: str, checked: _Checked, now: datetime) -> dict[str, Any]:
    decision = checked.decision
    assert decision is not None
    sent = checked.sent
    allowed_here = sent["decision"] == "allow"
    return {
        "at": checked.at,
        "reader_client_id": client_id,
        "card_number": checked.card_number,
        "mode": checked.tap.mode,
        "decision": "allow" if decision.allowed else "deny",
        "code": decision.code[:_CODE],
        "reason": decision.reason[:_REASON],
        # As online: kept for a genuine answer, so the same answer is recorded once.
        "challenge": checked.tap.challenge if checked.genuine else None,
        "reader_tap_id": sent["id"],
        "reader_decision": sent["decision"],
        "reader_code": str(sent["code"])[:_CODE],
        "reader_reason": str(sent["reason"])[:_REASON],
        "uploaded_at": now,
        "follow_up": allowed_here and not decision.allowed,
    }


def upload(
    client_id: str,
    batch: dict[str, Any],
    *,
    clock_drift: float,
    now: datetime | None = None,
) -> BatchAnswer:
    """Verify, decide and record the taps of ``batch`` (as
    :class:`idservice.cards.schemas.TapBatchRequestSchema` loads it) for the reader
    ``client_id``, and what the reader reported; one answer per tap, in order.

    Raises :class:`idservice.cards.fleet.NotAReader` for a client outside the fleet and
    :class:`idservice.cards.taps.IssuerUnavailable` when the keyring cannot be read.
    """
    now = now or utcnow()
    report = ReaderReport(**batch["reader"])
    sent_taps: list[dict[str, Any]] = batch["taps"]
    results: list[TapResult | None] = [None] * len(sent_taps)
    with transaction():
        if not fleet.is_reader(client_id):
            raise fleet.NotAReader
        recorded = fleet_dao.dao_recorded_taps(client_id, [t["id"] for t in sent_taps])
        seen: set[str] = set()
        checked: list[_Checked] = []
        for index, sent in enumerate(sent_taps):
            tap_id = sent["id"]
            if tap_id in recorded:
                results[index] = _recorded_as(tap_id, recorded[tap_id])
            elif tap_id in seen:  # twice in one batch: the first one counts
                results[index] = TapResult(
                    tap_id,
                    DUPLICATE,
                    None,
                    "duplicate",
                    "the same tap id came earlier in this batch",
                )
            else:
                try:
                    checked.append(_check(index, sent, now, clock_drift))
                except ApiError as error:
                    results[index] = _refused(tap_id, error)
            seen.add(tap_id)
        if checked:
            keyring = tap_keyring()
            for each in checked:
                _verify(each, keyring)
            _decide(checked)
        rows = [_row(client_id, each, now) for each in checked]
        inserted = fleet_dao.dao_insert_offline_taps(rows)
        missing = [row["reader_tap_id"] for row in rows if row["reader_tap_id"] not in inserted]
        meanwhile = fleet_dao.dao_recorded_taps(client_id, missing)
        for each, row in zip(checked, rows, strict=True):
            tap_id = row["reader_tap_id"]
            if tap_id in inserted:
                results[each.index] = TapResult(
                    tap_id,
                    RECORDED,
                    row["decision"],
                    row["code"],
                    row["reason"],
                    row["follow_up"],
                )
            elif tap_id in meanwhile:  # the same batch, uploaded at the same time
                results[each.index] = _recorded_as(tap_id, meanwhile[tap_id])
            else:
                results[each.index] = _refused(tap_id, ReplayedTap())
        answer = BatchAnswer([r for r in results if r is not None], now, 0)
        drift = fleet.record_contact(
            client_id,
            report,
            now,
            recorded=answer.recorded,
            flagged=answer.flagged,
            refused=answer.refused,
        )
    if answer.flagged:
        log.warning("reader %s: %d offline taps flagged for follow-up", client_id, answer.flagged)
    return BatchAnswer(answer.results, now, drift)


@dataclass(frozen=True)
class StatusAnswer:
    service_time: datetime
    clock_drift_ms: int


def report_status(
    client_id: str, report: dict[str, Any], now: datetime | None = None
) -> StatusAnswer:
    """``POST /api/v1/readers/status``: record what the reader said (as
    :class:`idservice.cards.schemas.ReaderStatusSchema` loads it)."""
    now = now or utcnow()
    with transaction():
        drift = fleet.record_contact(client_id, ReaderReport(**report), now)
    return StatusAnswer(now, drift)
