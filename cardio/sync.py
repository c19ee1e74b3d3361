"""Bringing a reader and the service up to date: queued taps up, the reader's state told.

:func:`sync` is one round, what ``kentcard reader sync`` runs (and what ``reader watch``
is to run in the background): first the snapshot hook (fetching the signed offline
snapshot is not part of this module; the hook returns the snapshot version the reader
holds), then :func:`upload_queue`, then, if no batch went up, ``POST
/api/v1/readers/status``, so every sync tells the service the reader's snapshot version,
its queued taps and its clock.

The upload protocol (docs/readers.md, "Offline taps and the batch upload"): batches of
taps in queue order to ``POST /api/v1/taps/batch`` (four in flight by default); the
service answers for every tap (``recorded``, ``duplicate`` or ``refused`` with a code),
and only then, batch by batch in queue order, are the refused ones kept in
``refused.jsonl`` and the cursor moved past the batch, durably. A reader killed before
the cursor moved sends the same batches again and the service answers ``duplicate`` for
the taps it already has: nothing lost, nothing recorded twice. An answer that does not
account for every tap of its batch moves nothing.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from cardio.online import OnlineDecisionError
from cardio.tapqueue import Batch, Cursor, TapQueue

BATCH_PATH = "/api/v1/taps/batch"
STATUS_PATH = "/api/v1/readers/status"
#: Taps per request; the service takes at most 1,000 (its ``tap_batch_max_taps``).
DEFAULT_BATCH_SIZE = 500
#: Batches sent before the first is answered: the service verifies batches in parallel,
#: one per worker process; with a new connection per request two can land on one worker,
#: so four keep both of two workers busy (benchmarks/README.md, "Offline tap upload").
DEFAULT_IN_FLIGHT = 4
#: Seconds to wait for the answer to one batch (the service verifies every signature).
UPLOAD_TIMEOUT = 60.0
RESULTS = ("recorded", "duplicate", "refused")

#: Fetches what the service has for this reader's offline decisions (the signed
#: snapshot, added by the snapshot work) and returns the version the reader now holds,
#: or None when it holds none.
SnapshotHook = Callable[[], "str | None"]


class UploadError(RuntimeError):
    """The service's answer to a batch could not be used: nothing was acknowledged."""


class ServiceLink(Protocol):
    """What uploading needs of the connection to the service
    (:class:`cardio.online.OnlineDecisionSource` is one)."""

    def post_json(
        self, path: str, document: dict[str, Any], timeout: float = ...
    ) -> dict[str, Any]: ...


@dataclass(frozen=True)
class ReaderStatus:
    """What the reader tells the service at every contact."""

    snapshot_version: str | None
    queued: int
    clock: str  # the reader's clock now, ISO 8601 with the offset

    @classmethod
    def now(
        cls, queue: TapQueue, snapshot_version: str | None, after: Cursor | None = None
    ) -> ReaderStatus:
        """The state now; with ``after`` (the end of the batch this goes with) the taps up
        to there do not count as queued, so the service's figure is right once it has
        them."""
        clock = datetime.now(UTC).isoformat(timespec="milliseconds")
        return cls(snapshot_version, queue.pending_count(after), clock)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class UploadReport:
    """What a round of uploading did; ``error`` says why it stopped early."""

    recorded: int = 0
    duplicates: int = 0
    refused: int = 0
    flagged: int = 0
    batches: int = 0
    remaining: int = 0
    snapshot_version: str | None = None
    #: The reader's clock less the service's at the last answer (ms), when it said.
    clock_drift_ms: int | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_answer(batch: Batch, answer: dict[str, Any]) -> list[dict[str, Any]]:
    """The per-tap results of ``answer``: one per tap of ``batch``, in order, with the
    tap's id and a known result; else :class:`UploadError`."""
    results = answer.get("results")
    if not isinstance(results, list) or len(results) != len(batch.taps):
        raise UploadError("the service did not answer for every tap of the batch")
    for tap, result in zip(batch.taps, results, strict=True):
        if not isinstance(result, dict) or result.get("id") != tap.id:
            raise UploadError(f"the answer does not follow the batch at tap {tap.id}")
        if result.get("result") not in RESULTS:
            raise UploadError(f"unknown result for tap {tap.id}: {result.get('result')!r}")
    return results


def send_batch(
    queue: TapQueue, link: ServiceLink, batch: Batch, snapshot_version: str | None
) -> dict[str, Any]:
    """``POST /api/v1/taps/batch`` for ``batch``: the service's answer, checked."""
    if not batch.taps:  # only damaged lines: nothing to send
        return {"results": []}
    status = ReaderStatus.now(queue, snapshot_version, after=batch.end)
    document = {"reader": status.as_json(), "taps": [tap.upload_record() for tap in batch.taps]}
    answer = link.post_json(BATCH_PATH, document, timeout=UPLOAD_TIMEOUT)
    check_answer(batch, answer)
    return answer


def settle_batch(queue: TapQueue, batch: Batch, answer: dict[str, Any]) -> None:
    """The service answered for every tap of ``batch`` (the batches before it settled):
    keep what it refused (fsynced), then move the cursor past the batch (fsynced)."""
    refused = [
        {
            **tap.upload_record(),
            "seq": tap.seq,
            "refused": result.get("code"),
            "message": result.get("reason"),
        }
        for tap, result in zip(batch.taps, answer["results"], strict=True)
        if result["result"] == "refused"
    ]
    refused += [{"line": line, "refused": "unreadable"} for line in batch.unreadable]
    queue.record_refused(refused)
    queue.acknowledge(batch)


def _count(report: UploadReport, answer: dict[str, Any]) -> None:
    report.batches += 1
    for result in answer.get("results", []):
        kind = result["result"]
        if kind == "recorded":
            report.recorded += 1
            report.flagged += bool(result.get("follow_up"))
        elif kind == "duplicate":
            report.duplicates += 1
        else:
            report.refused += 1
    drift = answer.get("clock_drift_ms")
    if isinstance(drift, int):
        report.clock_drift_ms = drift


def upload_queue(
    queue: TapQueue,
    link: ServiceLink,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    in_flight: int = DEFAULT_IN_FLIGHT,
    snapshot_version: str | None = None,
    stop: threading.Event | None = None,
) -> UploadReport:
    """Upload every queued tap until none is left (or ``stop`` is set, or the service
    cannot be reached: ``error`` says so, and the next round goes on from the last batch
    settled). Raises :class:`cardio.tapqueue.QueueBusy` when another process uploads.

    Batches are read and sent in queue order, up to ``in_flight`` at once (the service
    verifies each batch on a core of its own); each is settled (refused taps kept, cursor
    moved) only after every batch before it, so the cursor never passes a tap the service
    has not answered for. A batch after a failed one may have been recorded: sent again
    next time, it is answered ``duplicate``.
    """
    report = UploadReport(snapshot_version=snapshot_version)
    with (
        queue.uploading(),
        ThreadPoolExecutor(max_workers=in_flight, thread_name_prefix="upload") as pool,
    ):
        sent: deque[tuple[Batch, Future[dict[str, Any]]]] = deque()
        position = queue.cursor()
        while True:
            while len(sent) < in_flight and (stop is None or not stop.is_set()):
                batch = queue.next_batch(batch_size, after=position)
                if batch is None:
                    break
                position = batch.end
                sent.append((batch, pool.submit(send_batch, queue, link, batch, snapshot_version)))
            if not sent:
                break
            batch, answer = sent.popleft()
            try:
                result = answer.result()
            except (OnlineDecisionError, UploadError) as exc:
                report.error = str(exc)
                break  # leaving the pool waits for the batches still in flight
            settle_batch(queue, batch, result)
            _count(report, result)
    report.remaining = queue.pending_count()
    return report


def report_status(
    queue: TapQueue, link: ServiceLink, snapshot_version: str | None
) -> dict[str, Any]:
    """``POST /api/v1/readers/status``: the service's answer (its time, the drift)."""
    return link.post_json(STATUS_PATH, ReaderStatus.now(queue, snapshot_version).as_json())


def sync(
    queue: TapQueue,
    link: ServiceLink,
    *,
    snapshot: SnapshotHook | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    in_flight: int = DEFAULT_IN_FLIGHT,
    stop: threading.Event | None = None,
) -> UploadReport:
    """One round: the snapshot hook, the queued taps, and the reader's state told."""
    version = snapshot() if snapshot is not None else None
    report = upload_queue(
        queue,
        link,
        batch_size=batch_size,
        in_flight=in_flight,
        snapshot_version=version,
        stop=stop,
    )
    if report.batches == 0 and report.error is None:
        try:
            answer = report_status(queue, link, version)
        except OnlineDecisionError as exc:
            report.error = str(exc)
        else:
            drift = answer.get("clock_drift_ms")
            report.clock_drift_ms = drift if isinstance(drift, int) else None
    return report
