"""The card worker and the tap clock: jobs that overrun are given up on, never waited for."""

from __future__ import annotations

import threading
import time

import pytest

from cardio.connection import CardConnection, CardRemovedError, CardSilentError
from cardio.deadline import TAP_DEADLINES, CardJob, CardTooSlowError, CardWorker, TapClock


def test_worker_returns_results_and_raises_the_jobs_errors() -> None:
    worker = CardWorker()
    assert worker.run(lambda: 42, TapClock(1.0)) == 42

    def pulled() -> None:
        raise CardRemovedError("card removed")

    with pytest.raises(CardRemovedError):
        worker.run(pulled, TapClock(1.0))
    assert worker.abandoned == 0


def test_a_blocked_call_is_given_up_on_and_the_next_job_still_runs() -> None:
    worker = CardWorker()
    released = threading.Event()
    blocked_thread: list[threading.Thread] = []
    clock = TapClock(0.05)

    def silent_card() -> None:
        blocked_thread.append(threading.current_thread())
        released.wait()
        clock.start_call()  # the job's next card call, once the blocked one returns

    started = time.monotonic()
    with pytest.raises(CardSilentError, match="no answer within 50 ms") as caught:
        worker.run(silent_card, clock)
    assert not isinstance(caught.value, CardTooSlowError)
    assert 0.05 <= time.monotonic() - started < 1.0
    assert worker.abandoned == 1
    # The blocked call keeps its thread; a new one runs the next job at once.
    assert worker.run(threading.current_thread, TapClock(1.0)) is not blocked_thread[0]
    assert blocked_thread[0].is_alive() and blocked_thread[0].daemon
    released.set()
    blocked_thread[0].join(5)
    assert not blocked_thread[0].is_alive()  # it ends once its call returns...
    assert clock.given_up  # ...making no further card call (start_call raised)


def test_each_call_has_its_deadline_and_the_tap_twice_that() -> None:
    worker = CardWorker()
    per_call = 0.2

    def calls(clock: TapClock, count: int, each: float) -> int:
        for _ in range(count):
            clock.start_call()
            time.sleep(each)
        return count

    # Two calls of most of a deadline each: within the tap's budget.
    clock = TapClock(per_call)
    assert worker.run(lambda: calls(clock, 2, 0.4 * per_call), clock) == 2
    # Calls each within its deadline, but past the tap's budget together.
    clock = TapClock(per_call)
    started = time.monotonic()
    with pytest.raises(CardTooSlowError):
        worker.run(lambda: calls(clock, 10, 0.4 * per_call), clock)
    assert TAP_DEADLINES * per_call <= time.monotonic() - started < TAP_DEADLINES * per_call + 0.5
    with pytest.raises(ValueError):
        TapClock(0)


def test_a_clock_for_three_calls_gives_three_deadlines() -> None:
    """A kiosk's sign-in attempt is three APDUs (SELECT, VERIFY, INTERNAL AUTHENTICATE)."""
    worker = CardWorker()
    per_call = 0.2

    def three_calls(clock: TapClock) -> int:
        for _ in range(3):
            clock.start_call()
            time.sleep(0.8 * per_call)
        return 3

    sign_in = TapClock(per_call, calls=3)
    assert worker.run(lambda: three_calls(sign_in), sign_in) == 3
    tap = TapClock(per_call)  # two deadlines: a tap's
    with pytest.raises(CardTooSlowError, match="the card used the tap's 400 ms"):
        worker.run(lambda: three_calls(tap), tap)
    with pytest.raises(ValueError):
        TapClock(per_call, calls=0)


class _Card:
    """Answers 9000 to everything; its disconnect blocks until ``released``."""

    def __init__(self) -> None:
        self.released = threading.Event()

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        return b"", 0x9000

    def disconnect(self) -> None:
        self.released.wait(5)


def test_a_card_job_counts_its_apdus_and_keeps_the_answer_when_only_the_disconnect_hangs() -> None:
    worker = CardWorker()
    card = _Card()

    def two_apdus(connection: CardConnection) -> str:
        connection.transmit(b"\x00\xa4\x04\x00")
        connection.transmit(b"\x00\x88\x00\x00")
        return "answer"

    job = CardJob(lambda: card, two_apdus, TapClock(0.05))
    try:
        assert job.run(worker) == "answer"
        assert (job.apdu_count, worker.abandoned) == (2, 1)
    finally:
        card.released.set()
    # A job that fails before its answer raises the deadline, and still counts its APDUs.
    silent = _Card()

    def no_answer(connection: CardConnection) -> str:
        connection.transmit(b"\x00\xa4\x04\x00")
        connection.disconnect()  # stands for a call that never returns
        return "never"

    job = CardJob(lambda: silent, no_answer, TapClock(0.05))
    try:
        with pytest.raises(CardSilentError):
            job.run(worker)
        assert job.apdu_count == 1
    finally:
        silent.released.set()
    connect_fails = CardJob(_refuse_connect, two_apdus, TapClock(1.0))
    with pytest.raises(CardRemovedError):
        connect_fails.run(worker)
    assert connect_fails.apdu_count == 0


def _refuse_connect() -> CardConnection:
    raise CardRemovedError("no card")
