"""The reader station: wait for a card, verify the tap offline, decide, log, show.

Order matters: the tap is written to the durable log before the decision is shown (and a
tap decided offline to the tap queue, :mod:`cardio.tapqueue`, before that). The
loop survives what happens at a bus door or a library desk: a card pulled mid-tap, a card
that is not a Kent Card, a card that stops answering (every card call has the station's
own deadline, :mod:`cardio.deadline`), an answer that is not a response APDU, the reader
unplugged, pcscd restarting (the PC/SC context is re-established with backoff). A card
the station cannot decide on gets a named code (:class:`CardFault`), never a traceback.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from enum import Enum
from typing import Any

from cardio.apdu import ApduError, sw_text
from cardio.cardnumber import mask
from cardio.connection import (
    CardConnection,
    CardReader,
    CardRemovedError,
    CardSilentError,
    EmptyAnswerError,
    NoStatusWordError,
    ReaderUnavailableError,
    ServiceUnavailableError,
    TransportError,
)
from cardio.deadline import DEFAULT_APDU_DEADLINE, CardJob, CardTooSlowError, CardWorker, TapClock
from cardio.decision import Decision, DecisionSource, Mode
from cardio.errors import CardProtocolError, MalformedResponseError, NotAKentCardError
from cardio.keyring import IssuerKeyring
from cardio.session import SelectAnswer
from cardio.taplog import TapLog
from cardio.tapqueue import QueuedTap, TapQueue
from cardio.verify import Reason, TapEvidence, TapRejected, read_tap, verify_tap

logger = logging.getLogger(__name__)

ALLOW, DENY, NO_DECISION = "allow", "deny", "none"
MAX_BACKOFF = 2.0


class CardFault(Enum):
    """Why the station made no decision on a card (decision ``none``); value = (code, words).

    Each is documented in docs/card-protocol.md, "The reader's outcomes without a decision".
    """

    CARD_REMOVED = ("card_removed", "card removed during the tap: tap again")
    CARD_SILENT = ("card_silent", "card did not answer: tap again")
    CARD_TOO_SLOW = ("card_too_slow", "card answered too slowly: tap again")
    CARD_EMPTY_ANSWER = ("card_empty_answer", "card sent an empty answer: tap again")
    CARD_NO_STATUS_WORD = (
        "card_no_status_word",
        "card answer had no status word: tap again",
    )
    CARD_PROTOCOL_ERROR = (
        "card_protocol_error",
        "card broke the protocol: tap again, or send the card to a Gateway",
    )
    #: The words name the status word: "card answered 6400 execution error: tap again...".
    CARD_ERROR = ("card_error", "card answered {sw}: tap again, or send the card to a Gateway")
    ERROR = ("error", "card not understood: tap again")

    @property
    def code(self) -> str:
        return self.value[0]

    @property
    def words(self) -> str:
        return self.value[1]

    @staticmethod
    def of(error: BaseException) -> CardFault | None:
        """The fault a card call's error is (a deadline passed, an answer that is not a
        response APDU, the card left, the exchange bounds), or None for any other error."""
        for kind, fault in _FAULTS:
            if isinstance(error, kind):
                return fault
        return None


#: Most specific first: a card too slow is also silent, a protocol error also malformed.
_FAULTS: tuple[tuple[type[Exception], CardFault], ...] = (
    (CardTooSlowError, CardFault.CARD_TOO_SLOW),
    (CardSilentError, CardFault.CARD_SILENT),
    (EmptyAnswerError, CardFault.CARD_EMPTY_ANSWER),
    (NoStatusWordError, CardFault.CARD_NO_STATUS_WORD),
    (CardRemovedError, CardFault.CARD_REMOVED),
    (CardProtocolError, CardFault.CARD_PROTOCOL_ERROR),
)


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
    #: Decided under the offline policy (list too old, or none): to be checked later.
    flagged: bool = False

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
        used += " [flagged]" if self.flagged else ""
        return (
            f"{self.decision.upper():5} {number}  {self.reason}{used}  "
            f"({self.apdu_count} APDUs, {self.elapsed_ms:.1f} ms)"
        )


#: What a tap reads from the card: the SELECT answer, the challenge and the signature.
_Answer = tuple[SelectAnswer, bytes, bytes]


def _read(connection: CardConnection) -> _Answer:
    answer, challenge, signature, _ = read_tap(connection)
    return answer, challenge, signature


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
        apdu_deadline: float = DEFAULT_APDU_DEADLINE,
        queue: TapQueue | None = None,
    ) -> None:
        """``apdu_deadline``: seconds the card gets for each call (connect, every APDU);
        a tap's calls together get twice that (:mod:`cardio.deadline`)."""
        if apdu_deadline <= 0:
            raise ValueError("the APDU deadline must be positive")
        self.reader = reader
        self.keyring = keyring
        self.decisions = decisions
        self.log = log
        self.mode = mode
        self.location = location
        self.today = today
        self.apdu_deadline = apdu_deadline
        self.worker = CardWorker("card")
        #: Where taps decided offline wait for upload; None: such taps are not kept.
        self.queue = queue

    def _decide(
        self, job: CardJob[_Answer]
    ) -> tuple[str | None, str, Decision, TapEvidence | None]:
        """(card number, decision, why, the tap to keep for upload when it was decided
        offline and the station has a queue) for a card in the field."""
        try:
            answer = job.run(self.worker)  # connect, the tap's two APDUs, disconnect
            verified = verify_tap(*answer, self.keyring, self.today())
        except TapRejected as rejected:
            code, words = rejected.reason.code, rejected.reason.words
            return rejected.card_number, DENY, Decision(False, code, words), None
        except CardProtocolError as exc:
            logger.info("card broke the protocol: %s", exc)
            fault = CardFault.CARD_PROTOCOL_ERROR
            return None, NO_DECISION, Decision(False, fault.code, fault.words), None
        except (NotAKentCardError, MalformedResponseError):
            not_kent = Reason.NOT_KENT_CARD
            return None, DENY, Decision(False, not_kent.code, not_kent.words), None
        except ApduError as exc:
            words = CardFault.CARD_ERROR.words.format(sw=sw_text(exc.sw))
            return None, NO_DECISION, Decision(False, CardFault.CARD_ERROR.code, words), None
        decision = self.decisions.decide(
            verified.card_number,
            self.mode,
            self.today(),
            verified.evidence,
            public_point=verified.public_point,
        )
        verdict = ALLOW if decision.allowed else DENY
        keep = verified.evidence if decision.offline and self.queue is not None else None
        return verified.card_number, verdict, decision, keep

    def _enqueue(
        self, verdict: str, decision: Decision, keep: TapEvidence | None
    ) -> tuple[str, Decision]:
        """Keep a tap decided offline in the queue (fsynced); a tap that cannot be kept is
        not decided, since the service would never hear of it."""
        if keep is None or self.queue is None:
            return verdict, decision
        tap = QueuedTap.decided(
            keep,
            str(self.mode),
            verdict,
            decision.code,
            decision.reason,
            decision.entitlement if verdict == ALLOW else None,
        )
        try:
            self.queue.append(tap)
        except OSError as exc:
            logger.error("tap queue cannot be written: %s", exc)
            words = "tap could not be stored on the reader: tap again, or call for help"
            return NO_DECISION, Decision(False, "queue_error", words)
        return verdict, decision

    def tap(self) -> TapOutcome:
        """One tap on the card in the reader; logs it durably, then returns it.

        Raises :class:`ServiceUnavailableError` or :class:`ReaderUnavailableError` (the
        loop recovers from those); anything else becomes an outcome.
        """
        started = time.perf_counter()
        job = CardJob(self.reader.connect, _read, TapClock(self.apdu_deadline))
        abandoned = self.worker.abandoned
        fault: CardFault | None = None
        try:
            number, verdict, decision, keep = self._decide(job)
        except (ServiceUnavailableError, ReaderUnavailableError):
            raise
        except Exception as exc:
            fault = CardFault.of(exc)
            if fault is None:  # a bug we do not understand must not stop the station
                logger.exception("tap failed")
                fault = CardFault.ERROR
        if self.worker.abandoned != abandoned:
            # A call is still blocked on the card: it ends on its own thread when the card
            # leaves the field; the reader starts afresh so that the next card is served.
            self.reader.reset()
        if fault is not None:
            number, verdict, keep = None, NO_DECISION, None
            decision = Decision(False, fault.code, fault.words)
        # Queued and fsynced before the log and the screen.
        verdict, decision = self._enqueue(verdict, decision, keep)
        outcome = TapOutcome(
            time=datetime.now(UTC).isoformat(timespec="milliseconds"),
            reader=self.reader.name,
            location=self.location,
            mode=str(self.mode),
            card_number=number,
            decision=verdict,
            code=decision.code,
            reason=decision.reason,
            entitlement=decision.entitlement if verdict == ALLOW else None,
            apdu_count=job.apdu_count,
            elapsed_ms=round((time.perf_counter() - started) * 1000, 2),
            flagged=decision.flagged,
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
