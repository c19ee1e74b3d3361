"""The card worker and the tap clock: calls that overrun are given up on, never waited for."""

from __future__ import annotations

import threading
import time

import pytest

from cardio.connection import CardRemovedError, CardSilentError
from cardio.deadline import TAP_DEADLINES, CardTooSlowError, CardWorker, TapClock


def test_worker_returns_results_and_raises_the_calls_errors() -> None:
    worker = CardWorker()
    assert worker.run(lambda: 42, 1.0) == 42

    def pulled() -> None:
        raise CardRemovedError("card removed")

    with pytest.raises(CardRemovedError):
        worker.run(pulled, 1.0)
    assert worker.abandoned == 0


def test_a_blocked_call_is_given_up_on_and_the_next_call_still_runs() -> None:
    worker = CardWorker()
    released = threading.Event()
    blocked_thread: list[threading.Thread] = []

    def silent_card() -> None:
        blocked_thread.append(threading.current_thread())
        released.wait()

    started = time.monotonic()
    with pytest.raises(CardSilentError, match="no answer within 50 ms"):
        worker.run(silent_card, 0.05)
    assert 0.05 <= time.monotonic() - started < 1.0
    assert worker.abandoned == 1
    # The blocked call keeps its thread; a new one answers the next call at once.
    assert worker.run(threading.current_thread, 1.0) is not blocked_thread[0]
    assert blocked_thread[0].is_alive() and blocked_thread[0].daemon
    released.set()
    blocked_thread[0].join(5)
    assert not blocked_thread[0].is_alive()  # it ends once its call returns


def test_tap_clock_limits_each_call_and_the_whole_tap() -> None:
    worker = CardWorker()
    clock = TapClock(0.2)
    assert clock.next_limit() == (0.2, False)
    for _ in range(TAP_DEADLINES):
        worker.run(lambda: time.sleep(0.12), 1.0)
    limit, whole_tap = clock.next_limit()
    assert whole_tap and limit < 0.2
    with pytest.raises(CardTooSlowError):
        clock.run(worker, lambda: time.sleep(0.5))
    with pytest.raises(ValueError):
        TapClock(0)
