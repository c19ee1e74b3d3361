"""The reader's own deadline on every card call: connect, and each APDU exchange.

pcscd (and the vpcd driver behind it in the test rig) waits for ever on a card that stays
silent, and a thread blocked in a PC/SC call cannot be interrupted: pcsc-lite's
``SCardCancel`` only ends ``SCardGetStatusChange``, and any other call on the blocked
call's context waits for it. So a reader hands the card calls of one use of the card (a
station's tap: connect, SELECT, INTERNAL AUTHENTICATE, disconnect; a kiosk's sign-in
attempt, :mod:`cardio.signin`: connect, SELECT, VERIFY, INTERNAL AUTHENTICATE, disconnect)
to a :class:`CardWorker` thread as one :class:`CardJob` and watches the clock: each card
call may take ``per_call`` seconds, all of them together ``calls * per_call`` (a tap is two
APDUs: ``TAP_DEADLINES``), so a card that answers every GET RESPONSE just in time still
cannot hold the reader. One hand-over per job, not one per call: the watching thread
sleeps until the earliest moment a deadline could pass.

A job that overruns is given up on: its thread stays blocked until the card leaves the
field (or pcscd gives up), then ends by itself without touching the card again; a fresh
thread serves the next job, and the reader must start a new PC/SC context
(:meth:`cardio.connection.CardReader.reset`).
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar, cast

from cardio.connection import CardConnection, CardSilentError, TransportError

T = TypeVar("T")

#: The default deadline of one card call, in seconds (docs/card-protocol.md, "Deadlines").
DEFAULT_APDU_DEADLINE = 0.150
#: A tap's card calls together get at most this many deadlines: the two APDUs of a tap.
TAP_DEADLINES = 2


class CardTooSlowError(CardSilentError):
    """Each answer came within its deadline, but the tap's answers together did not."""


class TapClock:
    """One tap's time: each card call gets ``per_call`` seconds, all of them together
    ``calls * per_call`` from the start of the tap (``calls``: the APDUs the card is
    asked for, two for a tap)."""

    def __init__(self, per_call: float = DEFAULT_APDU_DEADLINE, calls: int = TAP_DEADLINES) -> None:
        if per_call <= 0:
            raise ValueError("the APDU deadline must be positive")
        if calls < 1:
            raise ValueError("a tap has at least one card call")
        self.per_call = per_call
        self.calls = calls
        now = time.monotonic()
        self.ends = now + calls * per_call
        self.call_started = now
        self.given_up = False

    def start_call(self) -> None:
        """A card call starts now (called on the worker, before each call)."""
        if self.given_up:
            raise CardSilentError("the card stopped answering earlier in this tap")
        self.call_started = time.monotonic()

    def wait_time(self) -> float:
        """Seconds until the earliest moment a deadline could pass."""
        return max(0.0, min(self.call_started + self.per_call, self.ends) - time.monotonic())

    def overrun(self) -> CardSilentError | None:
        """The deadline that has passed, if one has."""
        now = time.monotonic()
        if now - self.call_started >= self.per_call:
            return CardSilentError(f"no answer within {self.per_call * 1000:.0f} ms")
        if now >= self.ends:
            return CardTooSlowError(
                f"the card used the tap's {self.calls * self.per_call * 1000:.0f} ms"
            )
        return None


class ClockedConnection:
    """A :class:`CardConnection` that starts ``clock``'s call deadline before each call,
    and counts the APDUs sent (those of a tap that failed half way too)."""

    def __init__(self, connection: CardConnection, clock: TapClock) -> None:
        self.connection = connection
        self.clock = clock
        self.apdu_count = 0

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        self.clock.start_call()
        self.apdu_count += 1
        return self.connection.transmit(apdu)

    def disconnect(self) -> None:
        self.clock.start_call()
        self.connection.disconnect()


class _Job(Generic[T]):
    def __init__(self, call: Callable[[], T]) -> None:
        self.call = call
        self.done = threading.Event()
        self.result: T | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self.call()
        except BaseException as exc:  # handed to the waiting caller, who re-raises it
            self.error = exc
        finally:
            self.done.set()


def _serve(jobs: queue.SimpleQueue[_Job[Any] | None]) -> None:
    while (job := jobs.get()) is not None:
        job.run()


class CardWorker:
    """One daemon thread that runs card jobs one at a time, watched by a :class:`TapClock`.

    A daemon thread, so a process may exit while a call of a silent card is still blocked.
    """

    def __init__(self, name: str = "card") -> None:
        self.name = name
        self.abandoned = 0  # jobs given up on (their threads may still be blocked)
        self._jobs: queue.SimpleQueue[_Job[Any] | None] | None = None

    def run(self, call: Callable[[], T], clock: TapClock) -> T:
        """``call()``'s result (or exception), or the :class:`CardSilentError` (or
        :class:`CardTooSlowError`) of the deadline it overran, the call left running on
        its own thread."""
        if self._jobs is None:
            self._jobs = queue.SimpleQueue()
            thread = threading.Thread(
                target=_serve, args=(self._jobs,), name=f"{self.name}-worker", daemon=True
            )
            thread.start()
        job = _Job(call)
        clock.start_call()
        self._jobs.put(job)
        while not job.done.wait(clock.wait_time()):
            overrun = clock.overrun()
            if overrun is not None and not job.done.is_set():
                clock.given_up = True  # the job makes no further card call
                self._jobs.put(None)  # its thread ends once the blocked call returns
                self._jobs = None
                self.abandoned += 1
                raise overrun
        if job.error is not None:
            raise job.error
        return cast(T, job.result)


class CardJob(Generic[T]):
    """One use of the card in the field, within one :class:`TapClock`: connect, ``use``
    the connection, disconnect, all on a :class:`CardWorker`.

    What ``use`` returned is kept when only the disconnect overruns (the card said all
    that was needed); :attr:`apdu_count` is known however the job ended.
    """

    def __init__(
        self,
        connect: Callable[[], CardConnection],
        use: Callable[[CardConnection], T],
        clock: TapClock,
    ) -> None:
        self.connect = connect
        self.use = use
        self.clock = clock
        self.connection: ClockedConnection | None = None
        self._result: tuple[T] | None = None

    @property
    def apdu_count(self) -> int:
        return self.connection.apdu_count if self.connection is not None else 0

    def _on_card(self) -> T:
        self.clock.start_call()
        self.connection = ClockedConnection(self.connect(), self.clock)
        try:
            self._result = (self.use(self.connection),)
        finally:
            with contextlib.suppress(TransportError):
                self.connection.disconnect()
        return self._result[0]

    def run(self, worker: CardWorker) -> T:
        """``use``'s result, or its exception, or the deadline's :class:`CardSilentError`
        (:class:`CardTooSlowError`); the reader resets after a job ``worker`` gave up on."""
        try:
            return worker.run(self._on_card, self.clock)
        except CardSilentError:
            if self._result is None:
                raise
            return self._result[0]  # all was said; only the disconnect is blocked
