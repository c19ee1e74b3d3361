"""The offline tap queue and its upload, against a service played here: appended and
fsynced before a decision is shown, uploaded in order, the cursor moved only after the
service answered for every tap, resumable after any failure, never a tap lost or doubled."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from cardio import tapqueue
from cardio.decision import Decision, Mode
from cardio.issuer import Issuer
from cardio.online import OnlineDecisionError
from cardio.station import ReaderStation
from cardio.sync import (
    BATCH_PATH,
    STATUS_PATH,
    ReaderStatus,
    UploadError,
    sync,
    upload_queue,
)
from cardio.taplog import TapLog, read_log
from cardio.tapqueue import QueueBusy, QueuedTap, TapQueue, open_queue
from cardio.verify import TapEvidence, new_challenge
from hardware.virtual_card import InProcessConnection, VirtualKentCard
from tests.cardio.conftest import CARD_NUMBER, TODAY
from tests.cardio.test_station import ScriptedReader


def queued(n: int, decision: str = "allow") -> QueuedTap:
    evidence = TapEvidence(bytes([n % 256]) * 40, new_challenge(), b"\x30" * 70)
    return QueuedTap.decided(evidence, "transport", decision, "entitled", f"tap {n}")


class Service:
    """Plays ``POST /api/v1/taps/batch``: records each tap id once, as the service does;
    ``refuse`` names ids to refuse; ``fail_after`` makes the next calls fail."""

    def __init__(self, refuse: set[str] | None = None) -> None:
        self.recorded: list[str] = []
        self.refuse = refuse or set()
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.fail: Exception | None = None
        self.answer_then_fail = False

    def post_json(self, path: str, document: dict[str, Any], timeout: float = 5) -> dict[str, Any]:
        self.calls.append((path, document))
        if self.fail is not None:
            raise self.fail
        if path == STATUS_PATH:
            return {"service_time": "now", "clock_drift_ms": 12}
        results = []
        for tap in document["taps"]:
            if tap["id"] in self.refuse:
                results.append(
                    {"id": tap["id"], "result": "refused", "code": "future_tap", "reason": "ahead"}
                )
            elif tap["id"] in self.recorded:
                results.append({"id": tap["id"], "result": "duplicate"})
            else:
                self.recorded.append(tap["id"])
                results.append(
                    {"id": tap["id"], "result": "recorded", "follow_up": tap["reason"] == "tap 3"}
                )
        if self.answer_then_fail:  # recorded, but the answer never reaches the reader
            raise OnlineDecisionError("connection reset")
        return {"results": results, "clock_drift_ms": -40}


@pytest.fixture
def queue(tmp_path: Path) -> TapQueue:
    return open_queue(tmp_path)


def test_taps_are_kept_in_order_with_their_evidence(queue: TapQueue, tmp_path: Path) -> None:
    taps = [queue.append(queued(i)) for i in range(3)]
    assert [t.seq for t in taps] == [1, 2, 3]
    assert queue.pending_count() == 3
    # Another process (the uploader) reads what the station wrote.
    again = TapQueue(tmp_path / "queue")
    batch = again.next_batch(10)
    assert batch is not None
    assert [t.id for t in batch.taps] == [t.id for t in taps]
    assert batch.taps[0].upload_record() == {
        "id": taps[0].id,
        "select_answer": taps[0].select_answer,
        "challenge": taps[0].challenge,
        "signature": taps[0].signature,
        "mode": "transport",
        "decision": "allow",
        "code": "entitled",
        "reason": "tap 0",
    }
    assert len({t.id for t in taps}) == 3
    assert oct((tmp_path / "queue" / "00000001.jsonl").stat().st_mode & 0o777) == "0o600"


def test_the_cursor_moves_only_when_acknowledged(queue: TapQueue) -> None:
    for i in range(5):
        queue.append(queued(i))
    first = queue.next_batch(2)
    assert first is not None and [t.seq for t in first.taps] == [1, 2]
    assert queue.next_batch(2) == first  # not acknowledged: the same batch again
    queue.acknowledge(first)
    assert queue.pending_count() == 3
    second = queue.next_batch(10)
    assert second is not None and [t.seq for t in second.taps] == [3, 4, 5]
    queue.acknowledge(second)
    assert queue.next_batch(10) is None and queue.pending_count() == 0
    queue.append(queued(9))
    assert queue.pending_count() == 1


def test_a_line_cut_short_by_a_power_cut_is_dropped_and_the_next_tap_is_whole(
    queue: TapQueue, tmp_path: Path
) -> None:
    queue.append(queued(0))
    queue.close()
    segment = tmp_path / "queue" / "00000001.jsonl"
    with segment.open("ab") as handle:
        handle.write(b'{"id":"half a ta')  # the fsync never returned: never shown
    reader_side = TapQueue(tmp_path / "queue")
    batch = reader_side.next_batch(10)
    assert batch is not None and len(batch.taps) == 1  # the torn line is not read
    station_side = TapQueue(tmp_path / "queue")  # the station starts again
    later = station_side.append(queued(1))
    assert later.seq == 2
    batch = reader_side.next_batch(10)
    assert batch is not None and [t.seq for t in batch.taps] == [1, 2]
    assert batch.unreadable == []


def test_segments_rotate_and_uploaded_ones_are_deleted(
    queue: TapQueue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tapqueue, "SEGMENT_BYTES", 1500)
    for i in range(12):
        queue.append(queued(i))
    segments = queue.segments()
    assert len(segments) > 2
    # A new queue object (a restarted station) finds the newest seq from the files.
    assert TapQueue(tmp_path / "queue").pending_count() == 12
    service = Service()
    report = upload_queue(queue, service, batch_size=5)
    assert (report.recorded, report.remaining, report.error) == (12, 0, None)
    assert queue.segments() == [segments[-1]]  # the newest stays: the station writes it
    restarted = TapQueue(tmp_path / "queue")
    assert restarted.append(queued(99)).seq == 13


def test_upload_sends_in_order_and_keeps_what_was_refused(queue: TapQueue) -> None:
    taps = [queue.append(queued(i)) for i in range(7)]
    service = Service(refuse={taps[4].id})
    report = upload_queue(queue, service, batch_size=3, snapshot_version="v9")
    assert service.recorded == [t.id for t in taps if t is not taps[4]]
    assert (report.recorded, report.refused, report.flagged, report.batches) == (6, 1, 1, 3)
    assert report.clock_drift_ms == -40 and report.remaining == 0
    reader = service.calls[0][1]["reader"]
    assert reader["snapshot_version"] == "v9" and reader["queued"] == 4  # besides the batch
    assert [len(call[1]["taps"]) for call in service.calls] == [3, 3, 1]
    refused = queue.refused()
    assert [(r["id"], r["refused"], r["seq"]) for r in refused] == [(taps[4].id, "future_tap", 5)]


def test_a_failed_upload_moves_nothing_and_the_next_one_goes_on(queue: TapQueue) -> None:
    taps = [queue.append(queued(i)) for i in range(6)]
    service = Service()
    service.fail = OnlineDecisionError("decision service unreachable: timed out")
    report = upload_queue(queue, service, batch_size=4)
    assert report.error is not None and "unreachable" in report.error
    assert (report.recorded, report.remaining) == (0, 6)
    service.fail = None
    report = upload_queue(queue, service, batch_size=4)
    assert service.recorded == [t.id for t in taps] and report.remaining == 0


def test_an_answer_lost_after_the_service_recorded_is_sent_again_as_duplicates(
    queue: TapQueue,
) -> None:
    """The reader dies (here: the answer is lost) after the service recorded a batch and
    before the cursor moved: the same batch goes again, and the service says duplicate."""
    taps = [queue.append(queued(i)) for i in range(4)]
    service = Service()
    service.answer_then_fail = True
    report = upload_queue(queue, service, batch_size=4)
    assert report.error and service.recorded == [t.id for t in taps]
    assert queue.pending_count() == 4
    service.answer_then_fail = False
    report = upload_queue(queue, service, batch_size=4)
    assert (report.recorded, report.duplicates, report.remaining) == (0, 4, 0)
    assert service.recorded == [t.id for t in taps]  # each once


@pytest.mark.parametrize(
    "answer",
    [
        {"results": []},
        {"error": "server_error"},
        {"results": "nope"},
        "reordered",
        "unknown result",
    ],
)
def test_an_answer_that_does_not_follow_the_batch_moves_nothing(
    queue: TapQueue, answer: Any
) -> None:
    taps = [queue.append(queued(i)) for i in range(2)]

    class Odd(Service):
        def post_json(self, path: str, document: dict[str, Any], timeout: float = 5) -> Any:
            ids = [t["id"] for t in document["taps"]]
            if answer == "reordered":
                return {"results": [{"id": i, "result": "recorded"} for i in reversed(ids)]}
            if answer == "unknown result":
                return {"results": [{"id": i, "result": "maybe"} for i in ids]}
            return answer

    report = upload_queue(queue, Odd(), batch_size=10)
    assert report.error is not None and report.remaining == len(taps)
    assert queue.cursor() == tapqueue.Cursor()


def test_check_answer_names_the_tap(queue: TapQueue) -> None:
    from cardio.sync import check_answer

    tap = queue.append(queued(0))
    batch = queue.next_batch(1)
    assert batch is not None
    with pytest.raises(UploadError, match=tap.id):
        check_answer(batch, {"results": [{"id": "other", "result": "recorded"}]})


def test_one_uploader_at_a_time(queue: TapQueue) -> None:
    queue.append(queued(0))
    with queue.uploading(), pytest.raises(QueueBusy):
        upload_queue(TapQueue(queue.folder), Service())


def test_a_damaged_line_is_kept_aside_not_sent(queue: TapQueue, tmp_path: Path) -> None:
    queue.append(queued(0))
    queue.close()
    with (tmp_path / "queue" / "00000001.jsonl").open("ab") as handle:
        handle.write(b"not json at all\n")
    queue = TapQueue(tmp_path / "queue")
    queue.append(queued(1))
    service = Service()
    report = upload_queue(queue, service)
    assert report.recorded == 2 and report.remaining == 0
    assert [r.get("line") for r in queue.refused()] == ["not json at all"]


def test_sync_reports_the_state_when_nothing_is_queued(queue: TapQueue) -> None:
    service = Service()
    report = sync(queue, service, snapshot=lambda: "v3")
    assert [path for path, _ in service.calls] == [STATUS_PATH]
    sent = service.calls[0][1]
    assert (sent["snapshot_version"], sent["queued"]) == ("v3", 0)
    assert report.clock_drift_ms == 12 and report.snapshot_version == "v3"
    queue.append(queued(0))
    sync(queue, service, snapshot=lambda: "v4")
    assert service.calls[-1][0] == BATCH_PATH  # the batch carries the state itself


def test_a_bad_cursor_is_named(queue: TapQueue, tmp_path: Path) -> None:
    (tmp_path / "queue" / "cursor.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(tapqueue.QueueError, match="cursor"):
        queue.cursor()


def test_reader_status_counts_what_waits_besides_the_batch(queue: TapQueue) -> None:
    queue.append(queued(0))
    queue.append(queued(1))
    assert ReaderStatus.now(queue, None).queued == 2
    batch = queue.next_batch(2)
    assert batch is not None
    status = ReaderStatus.now(queue, None, after=batch.end)
    assert status.queued == 0 and status.clock.endswith("+00:00")


# -- the station ----------------------------------------------------------------------------


class Online:
    """A decision source that asked the service (its decisions are not kept for upload)."""

    def decide(self, *args: Any, **kwargs: Any) -> Decision:
        return Decision(False, "not_entitled", "no transport entitlement on this card")


def _signed_list(card: VirtualKentCard, issuer: Issuer, tmp_path: Path) -> Any:
    """The reader's signed offline list, granting ``card`` in transport mode."""
    from tests.cardio.offline_lists import ListSigner, body, grant
    from tests.cardio.test_station import OfflineReader, card_fp

    reader = OfflineReader(tmp_path / "reader", "transport", ListSigner())
    reader.hold(body(grant(card_fp(card, issuer), 0)))
    return reader.source()


def _station(card: VirtualKentCard, issuer: Issuer, source: Any, tmp_path: Path, queue: Any):
    return ReaderStation(
        ScriptedReader([InProcessConnection(card)]),
        issuer.keyring(),
        source,
        TapLog(tmp_path / "taps.jsonl"),
        Mode.TRANSPORT,
        today=lambda: TODAY,
        apdu_deadline=5.0,  # not about time
        queue=queue,
    )


def test_a_tap_decided_offline_is_queued_before_it_is_logged_or_shown(
    card: VirtualKentCard, issuer: Issuer, tmp_path: Path
) -> None:
    offline = _signed_list(card, issuer, tmp_path)
    order: list[str] = []

    class Watched(TapQueue):
        def append(self, tap: QueuedTap) -> QueuedTap:
            kept = super().append(tap)
            order.append("queue")
            return kept

    class WatchedLog(TapLog):
        def append(self, record: dict[str, Any]) -> None:
            super().append(record)
            order.append("log")

    queue = Watched(tmp_path / "queue")
    station = _station(card, issuer, offline, tmp_path, queue)
    station.log = WatchedLog(tmp_path / "taps.jsonl")
    station.reader.wait_for_card(0)
    outcome = station.tap()
    assert order == ["queue", "log"]
    assert (outcome.decision, outcome.code) == ("allow", "entitled")
    batch = queue.next_batch(10)
    assert batch is not None and len(batch.taps) == 1
    kept = batch.taps[0]
    assert (kept.decision, kept.code) == ("allow", "entitled")
    assert kept.entitlement is not None and kept.entitlement == outcome.entitlement
    # What the service needs to verify the card again: the card's own answer.
    from cardio.session import parse_select_answer
    from cardio.verify import verify_tap

    again = verify_tap(
        parse_select_answer(bytes.fromhex(kept.select_answer)),
        bytes.fromhex(kept.challenge),
        bytes.fromhex(kept.signature),
        issuer.keyring(),
        TODAY,
    )
    assert again.card_number == CARD_NUMBER


def test_a_tap_decided_online_is_not_queued(
    card: VirtualKentCard, issuer: Issuer, tmp_path: Path
) -> None:
    queue = TapQueue(tmp_path / "queue")
    station = _station(card, issuer, Online(), tmp_path, queue)
    station.reader.wait_for_card(0)
    assert station.tap().decision == "deny"
    assert queue.pending_count() == 0


def test_a_tap_that_cannot_be_queued_is_not_decided(
    card: VirtualKentCard, issuer: Issuer, tmp_path: Path
) -> None:
    offline = _signed_list(card, issuer, tmp_path)

    class Full(TapQueue):
        def append(self, tap: QueuedTap) -> QueuedTap:
            raise OSError(28, os.strerror(28))

    station = _station(card, issuer, offline, tmp_path, Full(tmp_path / "queue"))
    station.reader.wait_for_card(0)
    outcome = station.tap()
    assert (outcome.decision, outcome.code) == ("none", "queue_error")
    assert read_log(tmp_path / "taps.jsonl")[0]["code"] == "queue_error"


def test_batches_in_flight_settle_in_order(queue: TapQueue) -> None:
    """Two batches in flight: the second is recorded but the first fails, so neither is
    settled; the next upload sends both, and the second comes back as duplicates."""
    taps = [queue.append(queued(i)) for i in range(4)]

    class FirstFails(Service):
        failing = True

        def post_json(
            self, path: str, document: dict[str, Any], timeout: float = 5
        ) -> dict[str, Any]:
            if self.failing and document["taps"][0]["id"] == taps[0].id:
                raise OnlineDecisionError("decision service unreachable: reset")
            return Service.post_json(self, path, document, timeout)

    service = FirstFails()
    report = upload_queue(queue, service, batch_size=2, in_flight=2)
    assert report.error is not None and report.remaining == 4
    assert service.recorded == [taps[2].id, taps[3].id]  # sent, recorded, not settled
    assert queue.cursor() == tapqueue.Cursor()
    service.failing = False
    report = upload_queue(queue, service, batch_size=2, in_flight=2)
    assert (report.recorded, report.duplicates, report.remaining) == (2, 2, 0)
    assert sorted(service.recorded) == sorted(t.id for t in taps)
    # The status sent with each batch counts what waits besides it and those before it.
    queued_reported = [call[1]["reader"]["queued"] for call in service.calls[-2:]]
    assert sorted(queued_reported) == [0, 2]
