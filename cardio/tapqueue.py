"""The offline tap queue: taps a reader decided without the service, kept until it has them.

A tap decided offline is appended here, flushed and fsynced *before* its decision is
shown, with everything the service needs to check the card again (the SELECT answer, the
challenge and the card's signature), the mode, the reader's own decision and why, and an
id of its own (a random UUID) that makes its upload idempotent. The uploader
(:mod:`cardio.sync`) sends the taps in order and moves a cursor past them only after the
service has answered for every one of them, so a reader killed at any instant neither
loses a tap nor has one recorded twice (the service records each tap id once).

Files in the queue folder (``<reader folder>/queue``)::

    00000001.jsonl ...  segments: one tap per line, append-only; a new one past 4 MiB
    cursor.json         where the uploader is: segment, byte offset and seq of the last
                        tap the service answered for (written to a temporary file,
                        fsynced and renamed, so it is either the old or the new cursor)
    refused.jsonl       taps the service refused, with its code and words (kept here)
    upload.lock         held (flock) by the one process uploading

Every tap has a ``seq``, one more than the tap before it, so the count still to upload is
the newest ``seq`` less the cursor's. A segment wholly behind the cursor and not the newest
is deleted: uploaded taps do not stay on the reader. A line cut short by a power cut (its
decision was never shown: the fsync had not returned) is cut off when the queue is next
opened for writing, so the next tap starts on a line of its own.

Imports nothing but the standard library: it runs on the reader.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from cardio.verify import TapEvidence

QUEUE_FOLDER = "queue"
CURSOR_FILE = "cursor.json"
REFUSED_FILE = "refused.jsonl"
LOCK_FILE = "upload.lock"
CURSOR_FORMAT = "kentcard-tap-queue-cursor/1"
#: A segment past this size is closed and the next tap starts a new one.
SEGMENT_BYTES = 4 * 1024 * 1024
_SUFFIX = ".jsonl"


class QueueError(RuntimeError):
    """The queue's files are not what this code wrote (a cursor from elsewhere...)."""


class QueueBusy(QueueError):
    """Another process is uploading this queue now."""


@dataclass(frozen=True)
class QueuedTap:
    """One tap decided offline, as it is kept and (without ``seq`` and ``time``) sent."""

    id: str
    mode: str
    select_answer: str  # hex, as the card answered SELECT
    challenge: str  # hex: the reader's 16 bytes, its clock in the first 8
    signature: str  # hex: the card's DER signature over the challenge
    decision: str  # the reader's: "allow" or "deny"
    code: str  # why, as a code (the decision source's)
    reason: str  # why, in words
    entitlement: str | None = None
    #: The reader's clock when it decided (ISO 8601); the challenge carries it too.
    time: str = ""
    #: Given by the queue when the tap is appended: 1, 2, 3... across segments.
    seq: int = 0

    @classmethod
    def decided(
        cls,
        evidence: TapEvidence,
        mode: str,
        decision: str,
        code: str,
        reason: str,
        entitlement: str | None = None,
    ) -> QueuedTap:
        """A new tap (a fresh id, the time now) from what the card said and the reader
        decided."""
        return cls(
            id=uuid.uuid4().hex,
            mode=mode,
            select_answer=evidence.select_answer.hex(),
            challenge=evidence.challenge.hex(),
            signature=evidence.signature.hex(),
            decision=decision,
            code=code,
            reason=reason,
            entitlement=entitlement,
            time=datetime.now(UTC).isoformat(timespec="milliseconds"),
        )

    def upload_record(self) -> dict[str, Any]:
        """The tap as ``POST /api/v1/taps/batch`` takes it (docs/readers.md)."""
        return {
            "id": self.id,
            "select_answer": self.select_answer,
            "challenge": self.challenge,
            "signature": self.signature,
            "mode": self.mode,
            "decision": self.decision,
            "code": self.code,
            "reason": self.reason,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> QueuedTap:
        known = {name: record[name] for name in cls.__dataclass_fields__ if name in record}
        return cls(**known)


@dataclass(frozen=True)
class Cursor:
    """Where uploading goes on from: ``offset`` bytes into ``segment``; ``seq`` is the last
    tap the service answered for (0: none yet)."""

    segment: int = 0
    offset: int = 0
    seq: int = 0


@dataclass(frozen=True)
class Batch:
    """The next taps to upload, and the cursor that acknowledging them writes."""

    taps: list[QueuedTap]
    end: Cursor
    #: Complete lines that were not a tap (a damaged file): kept in refused.jsonl.
    unreadable: list[str]


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _line(tap: QueuedTap) -> bytes:
    return (json.dumps(asdict(tap), separators=(",", ":"), sort_keys=True) + "\n").encode()


class TapQueue:
    """The queue in ``folder`` (made if missing). One process appends (the station), one
    uploads at a time (:meth:`uploading`); both may run at once."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._segment = 0
        self._size = 0
        self._seq = 0

    # -- files -----------------------------------------------------------------------------

    def segments(self) -> list[int]:
        """The segment numbers on disk, oldest first."""
        found = []
        for path in self.folder.iterdir():
            stem = path.name.removesuffix(_SUFFIX)
            if path.name.endswith(_SUFFIX) and stem.isdigit() and len(stem) == 8:
                found.append(int(stem))
        return sorted(found)

    def segment_path(self, number: int) -> Path:
        return self.folder / f"{number:08d}{_SUFFIX}"

    # -- appending (the station) -----------------------------------------------------------

    def _open_writer(self) -> None:
        segments = self.segments()
        cursor = self.cursor()
        if not segments:
            # A fresh queue, or one whose files were removed: never write into a segment
            # the cursor has already read from.
            self._start_segment(cursor.segment + 1 if cursor.offset else max(cursor.segment, 1))
            self._seq = cursor.seq
            return
        number = segments[-1]
        path = self.segment_path(number)
        self._repair_tail(path)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND, 0o600)
        self._segment, self._size = number, os.fstat(self._fd).st_size
        self._seq = max(self._newest_seq(segments), cursor.seq)

    def _start_segment(self, number: int) -> None:
        if self._fd is not None:
            os.close(self._fd)
        path = self.segment_path(number)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        _fsync_folder(self.folder)  # the new name is on disk before any tap in it counts
        self._segment, self._size = number, os.fstat(self._fd).st_size

    @staticmethod
    def _repair_tail(path: Path) -> None:
        """Cut a last line that was never finished (power cut mid-write)."""
        with path.open("r+b") as handle:
            size = handle.seek(0, os.SEEK_END)
            if size == 0:
                return
            handle.seek(size - 1)
            if handle.read(1) == b"\n":
                return
            keep = _last_newline(handle, size)
            handle.truncate(keep)
            handle.flush()
            os.fsync(handle.fileno())

    def _write(self, taps: Iterable[QueuedTap], sync_each: bool) -> list[QueuedTap]:
        written: list[QueuedTap] = []
        with self._lock:
            if self._fd is None:
                self._open_writer()
            for tap in taps:
                if self._size >= SEGMENT_BYTES:
                    assert self._fd is not None
                    os.fsync(self._fd)
                    self._start_segment(self._segment + 1)
                queued = replace(tap, seq=self._seq + 1)
                line = _line(queued)
                assert self._fd is not None
                done = os.write(self._fd, line)
                if done != len(line):
                    raise OSError(f"short write to the tap queue ({done} of {len(line)} bytes)")
                if sync_each:
                    os.fsync(self._fd)
                self._seq, self._size = queued.seq, self._size + len(line)
                written.append(queued)
            if not sync_each and self._fd is not None:
                os.fsync(self._fd)
        return written

    def append(self, tap: QueuedTap) -> QueuedTap:
        """Write one tap and return it (with its ``seq``) only once it is on stable
        storage: call before showing the decision."""
        return self._write([tap], sync_each=True)[0]

    def extend(self, taps: Iterable[QueuedTap]) -> list[QueuedTap]:
        """Write many taps with one fsync at the end (importing, tests, benchmarks): none
        of them counts as queued before this returns."""
        return self._write(taps, sync_each=False)

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    # -- reading and the cursor (the uploader) ---------------------------------------------

    def cursor(self) -> Cursor:
        path = self.folder / CURSOR_FILE
        try:
            document = json.loads(path.read_text())
        except FileNotFoundError:
            return Cursor()
        except ValueError as exc:
            raise QueueError(f"{path} is not a cursor: {exc}") from None
        if not isinstance(document, dict) or document.get("format") != CURSOR_FORMAT:
            raise QueueError(f"{path} is not a {CURSOR_FORMAT} document")
        return Cursor(int(document["segment"]), int(document["offset"]), int(document["seq"]))

    def _write_cursor(self, cursor: Cursor) -> None:
        path = self.folder / CURSOR_FILE
        tmp = path.with_name(path.name + ".tmp")
        document = {"format": CURSOR_FORMAT, **asdict(cursor)}
        with tmp.open("w") as handle:
            handle.write(json.dumps(document) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        _fsync_folder(self.folder)

    def next_batch(self, limit: int, after: Cursor | None = None) -> Batch | None:
        """Up to ``limit`` taps after the cursor (or after ``after``, the end of a batch
        still in flight), oldest first; None when none are queued.

        Reads only complete lines, so a tap being appended at this moment waits for the
        next batch.
        """
        cursor = after if after is not None else self.cursor()
        taps: list[QueuedTap] = []
        unreadable: list[str] = []
        end = cursor
        for number in self.segments():
            if number < cursor.segment:
                continue
            start = cursor.offset if number == cursor.segment else 0
            with self.segment_path(number).open("rb") as handle:
                handle.seek(start)
                position = start
                while len(taps) + len(unreadable) < limit:
                    line = handle.readline()
                    if not line.endswith(b"\n"):
                        break  # the end, or a line still being written
                    position += len(line)
                    try:
                        tap = QueuedTap.from_record(json.loads(line))
                    except (ValueError, TypeError, KeyError):
                        unreadable.append(line.decode("utf-8", "replace").rstrip("\n"))
                        end = Cursor(number, position, end.seq)
                        continue
                    taps.append(tap)
                    end = Cursor(number, position, tap.seq)
            if len(taps) + len(unreadable) >= limit:
                break
        if not taps and not unreadable:
            return None
        return Batch(taps, end, unreadable)

    def acknowledge(self, batch: Batch) -> None:
        """The service has answered for every tap of ``batch``: move the cursor past it
        (durably), then delete the segments wholly behind the cursor."""
        self._write_cursor(batch.end)
        segments = self.segments()
        for number in segments[:-1]:  # never the newest: the station may be writing it
            if number < batch.end.segment:
                self.segment_path(number).unlink(missing_ok=True)

    def record_refused(self, entries: list[dict[str, Any]]) -> None:
        """Keep what the service refused (fsynced), before the cursor moves past it."""
        if not entries:
            return
        path = self.folder / REFUSED_FILE
        lines = "".join(
            json.dumps(e, separators=(",", ":"), sort_keys=True) + "\n" for e in entries
        )
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, lines.encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def refused(self) -> list[dict[str, Any]]:
        path = self.folder / REFUSED_FILE
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def _newest_seq(self, segments: list[int]) -> int:
        for number in reversed(segments):
            seq = _last_seq(self.segment_path(number))
            if seq is not None:
                return seq
        return 0

    def newest_seq(self) -> int:
        """The ``seq`` of the newest tap queued (0: none yet)."""
        with self._lock:
            if self._fd is not None:
                return self._seq
        return max(self._newest_seq(self.segments()), self.cursor().seq)

    def pending_count(self, after: Cursor | None = None) -> int:
        """How many taps wait for upload: the newest ``seq`` less the cursor's (or less
        ``after``'s, the end of a batch in flight)."""
        done = (after if after is not None else self.cursor()).seq
        return max(0, self.newest_seq() - done)

    @contextlib.contextmanager
    def uploading(self) -> Iterator[TapQueue]:
        """Hold the upload lock (one uploader at a time), or raise :class:`QueueBusy`."""
        fd = os.open(self.folder / LOCK_FILE, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise QueueBusy(f"another process is uploading {self.folder}") from None
            yield self
        finally:
            os.close(fd)  # closing releases the lock


def _last_newline(handle: BinaryIO, size: int) -> int:
    """The length of ``handle``'s content up to and including its last newline (0: none)."""
    step = 64 * 1024
    end = size
    while end > 0:
        start = max(0, end - step)
        handle.seek(start)
        chunk: bytes = handle.read(end - start)
        at = chunk.rfind(b"\n")
        if at >= 0:
            return start + at + 1
        end = start
    return 0


def _last_seq(path: Path) -> int | None:
    """The ``seq`` of the last complete tap in a segment, reading from its end."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return None
    with handle:
        size = handle.seek(0, os.SEEK_END)
        end = _last_newline(handle, size)
        while end > 0:
            start = _last_newline(handle, end - 1)
            handle.seek(start)
            line = handle.read(end - start)
            try:
                return int(json.loads(line)["seq"])
            except (ValueError, TypeError, KeyError):
                end = start  # a damaged line: the one before it
    return None


def open_queue(reader_folder: Path) -> TapQueue:
    """The queue of the reader whose folder is ``reader_folder``."""
    return TapQueue(reader_folder / QUEUE_FOLDER)
