"""The card worker and the tap clock: jobs that overrun are given up on, never waited for."""

from __future__ import annotations

import threading
import time

import pytest

from cardio.connection import CardRemovedError, CardSilentError
from cardio.deadline import TAP_DEADLINES, CardTooSlowError, CardWorker, TapClock


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
