"""The reader station: wait for a card, verify the tap offline, decide, log, show.

Order matters: the tap is written to the durable log before the decision is shown (and a
tap decided offline to the tap queue, :mod:`cardio.tapqueue`, before that). The
loop survives what happens at a bus door or a library desk: a card pulled mid-tap, a card
that is not a Kent Card, the reader unplugged, pcscd restarting (the PC/SC context is
re-established with backoff).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from typing import Any

from cardio.apdu import ApduError, sw_text
from cardio.cardnumber import mask
from cardio.connection import (
    CardConnection,
    CardReader,
    CardRemovedError,
    ReaderUnavailableError,
    ServiceUnavailableError,
    TransportError,
)
from cardio.decision import DecisionSource, Mode
from cardio.errors import MalformedResponseError, NotAKentCardError
from cardio.keyring import IssuerKeyring
from cardio.taplog import TapLog
from cardio.tapqueue import QueuedTap, TapQueue
from cardio.verify import Reason, TapEvidence, TapRejected, authenticate

logger = logging.getLogger(__name__)

ALLOW, DENY, NO_DECISION = "allow", "deny", "none"
MAX_BACKOFF = 2.0


@dataclass(frozen=True)
class TapOutcome:
    time: str
    reader: str
    location: str
    mode: str
    card_number: str | None
    decision: str
    code: str
    reason: str
    entitlement: str | None
    apdu_count: int
    elapsed_ms: float

    @property
    def decided(self) -> bool:
        return self.decision in (ALLOW, DENY)

    def log_record(self) -> dict[str, Any]:
        return asdict(self)

    def display_record(self) -> dict[str, Any]:
        """What the screen (or ``--json``) shows: the card number masked."""
        record = asdict(self)
        record["card_number"] = mask(self.card_number) if self.card_number else None
        return record

    def display_line(self) -> str:
        number = mask(self.card_number) if self.card_number else "-"
        used = f" [{self.entitlement}]" if self.entitlement and self.decision == ALLOW else ""
        return (
            f"{self.decision.upper():5} {number}  {self.reason}{used}  "
            f"({self.apdu_count} APDUs, {self.elapsed_ms:.1f} ms)"
        )


@dataclass(frozen=True)
class _Decided:
    """What deciding a card in the field found (``queue``: evidence of a tap decided
    offline, for the tap queue)."""

    card_number: str | None
    decision: str
    code: str
    reason: str
    entitlement: str | None = None
    queue: TapEvidence | None = None


class _Counting:
    """Counts APDUs on a connection, including those of a tap that failed half way."""

    def __init__(self, connection: CardConnection) -> None:
        self.connection = connection
        self.count = 0

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        self.count += 1
        return self.connection.transmit(apdu)

    def disconnect(self) -> None:
        self.connection.disconnect()


class ReaderStation:
    def __init__(
        self,
        reader: CardReader,
        keyring: IssuerKeyring,
        decisions: DecisionSource,
        log: TapLog,
        mode: Mode,
        location: str = "",
        today: Callable[[], date] = date.today,
        queue: TapQueue | None = None,
    ) -> None:
        self.reader = reader
        self.keyring = keyring
        self.decisions = decisions
        self.log = log
        self.mode = mode
        self.location = location
        self.today = today
        #: Where taps decided offline wait for upload; None: such taps are not kept.
        self.queue = queue

    def _decide(self, connection: CardConnection) -> _Decided:
        """The decision on a card in the field."""
        try:
            verified, _ = authenticate(connection, self.keyring, self.today())
        except TapRejected as rejected:
            code, words = rejected.reason.code, rejected.reason.words
            return _Decided(rejected.card_number, DENY, code, words)
        except (NotAKentCardError, MalformedResponseError):
            return _Decided(None, DENY, Reason.NOT_KENT_CARD.code, Reason.NOT_KENT_CARD.words)
        except ApduError as exc:
            words = f"card answered {sw_text(exc.sw)}: tap again, or send the card to a Gateway"
            return _Decided(None, NO_DECISION, "card_error", words)
        decision = self.decisions.decide(
            verified.card_number, self.mode, self.today(), verified.evidence
        )
        verdict = ALLOW if decision.allowed else DENY
        keep = verified.evidence if decision.offline and self.queue is not None else None
        return _Decided(
            verified.card_number,
            verdict,
            decision.code,
            decision.reason,
            decision.entitlement,
            keep,
        )

    def _enqueue(self, decided: _Decided) -> _Decided:
        """Keep a tap decided offline in the queue (fsynced); a tap that cannot be kept is
        not decided, since the service would never hear of it."""
        if decided.queue is None or self.queue is None:
            return decided
        tap = QueuedTap.decided(
            decided.queue,
            str(self.mode),
            decided.decision,
            decided.code,
            decided.reason,
            decided.entitlement if decided.decision == ALLOW else None,
        )
        try:
            self.queue.append(tap)
        except OSError as exc:
            logger.error("tap queue cannot be written: %s", exc)
            words = "tap could not be stored on the reader: tap again, or call for help"
            return _Decided(decided.card_number, NO_DECISION, "queue_error", words)
        return decided

    def tap(self) -> TapOutcome:
        """One tap on the card in the reader; logs it durably, then returns it.

        Raises :class:`ServiceUnavailableError` or :class:`ReaderUnavailableError` (the
        loop recovers from those); anything else becomes an outcome.
        """
        started = time.perf_counter()
        counting: _Counting | None = None
        try:
            counting = _Counting(self.reader.connect())
            try:
                decided = self._decide(counting)
            finally:
                with contextlib.suppress(TransportError):
                    counting.disconnect()
        except CardRemovedError:
            decided = _Decided(
                None, NO_DECISION, "card_removed", "card removed during the tap: tap again"
            )
        except (ServiceUnavailableError, ReaderUnavailableError):
            raise
        except Exception:  # a card or a bug we do not understand must not stop the station
            logger.exception("tap failed")
            decided = _Decided(None, NO_DECISION, "error", "card not understood: tap again")
        decided = self._enqueue(decided)  # queued and fsynced before the log and the screen
        outcome = TapOutcome(
            time=datetime.now(UTC).isoformat(timespec="milliseconds"),
            reader=self.reader.name,
            location=self.location,
            mode=str(self.mode),
            card_number=decided.card_number,
            decision=decided.decision,
            code=decided.code,
            reason=decided.reason,
            entitlement=decided.entitlement if decided.decision == ALLOW else None,
            apdu_count=counting.count if counting else 0,
            elapsed_ms=round((time.perf_counter() - started) * 1000, 2),
        )
        self.log.append(outcome.log_record())  # durable before anyone sees it
        return outcome

    def watch(
        self,
        on_tap: Callable[[TapOutcome], None],
        on_event: Callable[[str], None],
        stop: threading.Event,
        max_taps: int | None = None,
    ) -> int:
        """Serve taps until ``stop`` is set (or ``max_taps`` taps); returns taps served."""
        taps = 0
        backoff = 0.1
        trouble = False
        while not stop.is_set():
            try:
                if not self.reader.wait_for_card(0.5):
                    continue
                if trouble:
                    on_event(f"reader {self.reader.name} is back")
                    trouble = False
                outcome = self.tap()
                on_tap(outcome)
                taps += 1
                if max_taps is not None and taps >= max_taps:
                    return taps
                while not stop.is_set() and not self.reader.wait_for_removal(0.5):
                    pass
                backoff = 0.1
            except TransportError as exc:  # pcscd or the reader went away: start afresh
                if not trouble:
                    on_event(f"{exc}: waiting for it to come back")
                trouble = True
                self.reader.reset()
                stop.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
        return taps
