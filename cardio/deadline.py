"""The reader's own deadline on every card call: connect, and each APDU exchange.

pcscd (and the vpcd driver behind it in the test rig) waits for ever on a card that stays
silent, and a thread blocked in a PC/SC call cannot be interrupted: pcsc-lite's
``SCardCancel`` only ends ``SCardGetStatusChange``, and any other call on the blocked
call's context waits for it. So the station runs every call that needs the card on a
:class:`CardWorker` thread and waits at most the deadline. A call that overruns is
abandoned: its thread stays blocked until the card leaves the field (or pcscd gives up),
then ends by itself; a fresh thread serves the next call, and the reader must start a new
PC/SC context (:meth:`cardio.connection.CardReader.reset`).

Two limits (docs/card-protocol.md, "Deadlines"): each call gets at most ``per_call``
seconds, and one tap's calls get at most ``2 * per_call`` in all (a tap is two APDUs),
so a card that answers every GET RESPONSE just in time still cannot hold the reader.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar, cast

from cardio.connection import CardConnection, CardSilentError

T = TypeVar("T")

#: The default deadline of one card call, in seconds (docs/card-protocol.md, "Deadlines").
DEFAULT_APDU_DEADLINE = 0.150
#: A tap's calls together get at most this many deadlines: the two APDUs of a tap.
TAP_DEADLINES = 2


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
    """One daemon thread that runs card calls one at a time, each with a time limit.

    A daemon thread, so a process may exit while a call of a silent card is still blocked.
    """

    def __init__(self, name: str = "card") -> None:
        self.name = name
        self.abandoned = 0  # calls given up on (their threads may still be blocked)
        self._jobs: queue.SimpleQueue[_Job[Any] | None] | None = None

    def run(self, call: Callable[[], T], timeout: float) -> T:
        """``call()``'s result (or exception), or :class:`CardSilentError` after
        ``timeout`` seconds, the call left running on its own thread."""
        if self._jobs is None:
            self._jobs = queue.SimpleQueue()
            thread = threading.Thread(
                target=_serve, args=(self._jobs,), name=f"{self.name}-worker", daemon=True
            )
            thread.start()
        job = _Job(call)
        self._jobs.put(job)
        if not job.done.wait(max(timeout, 0.0)):
            self._jobs.put(None)  # the blocked thread ends once its call returns
            self._jobs = None
            self.abandoned += 1
            raise CardSilentError(f"no answer within {timeout * 1000:.0f} ms")
        if job.error is not None:
            raise job.error
        return cast(T, job.result)


class TapClock:
    """One tap's time: each call gets ``per_call`` seconds, all of them ``2 * per_call``."""

    def __init__(self, per_call: float = DEFAULT_APDU_DEADLINE) -> None:
        if per_call <= 0:
            raise ValueError("the APDU deadline must be positive")
        self.per_call = per_call
        self.ends = time.monotonic() + TAP_DEADLINES * per_call

    def next_limit(self) -> tuple[float, bool]:
        """Seconds the next call may take, and whether the tap's whole budget is what
        limits it (rather than the call's own deadline)."""
        left = self.ends - time.monotonic()
        return (left, True) if left < self.per_call else (self.per_call, False)

    def run(self, worker: CardWorker, call: Callable[[], T]) -> T:
        limit, whole_tap = self.next_limit()
        try:
            return worker.run(call, limit)
        except CardSilentError as exc:
            if whole_tap:
                raise CardTooSlowError(
                    f"the card used the tap's {TAP_DEADLINES * self.per_call * 1000:.0f} ms"
                ) from exc
            raise


class CardTooSlowError(CardSilentError):
    """Each answer came within its deadline, but the tap's answers together did not."""


class DeadlineConnection:
    """A :class:`CardConnection` whose every call runs on ``worker`` within ``clock``.

    Once a call has overrun, the connection is dead: it is never used again, not even to
    disconnect (that would wait behind the blocked call).
    """

    def __init__(self, connection: CardConnection, worker: CardWorker, clock: TapClock) -> None:
        self.connection = connection
        self.worker = worker
        self.clock = clock
        self.stuck = False

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        if self.stuck:
            raise CardSilentError("the card stopped answering earlier in this tap")
        try:
            return self.clock.run(self.worker, lambda: self.connection.transmit(apdu))
        except CardSilentError:
            self.stuck = True
            raise

    def disconnect(self) -> None:
        if self.stuck:
            return
        try:
            self.worker.run(self.connection.disconnect, self.clock.per_call)
        except CardSilentError:
            self.stuck = True
            raise
