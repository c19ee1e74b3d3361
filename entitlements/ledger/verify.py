"""Checking the whole ledger: every hash, every link, every signed tree head.

Names the first bad sequence number, so an auditor knows where to look: an edited event
no longer matches its hash; a deleted one leaves a gap (or, renumbered, a body that says
it is another event); a reordered one sits at a number its body disagrees with; an
inserted one makes the next event's chain hash follow from the event two before it.
"""

from __future__ import annotations

import hashlib
import json
import queue
import threading
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import Connection, Engine, select

from entitlements.ledger.merkle import RootBuilder, leaf_hash
from entitlements.ledger.signing import verify_signature
from entitlements.ledger.store import EVENTS, TREE_HEADS, chain, read_head
from entitlements.ledger.tables import GENESIS_CHAIN_HASH

_READ_BATCH = 20_000
# json.loads without its whitespace handling: (value, end); end must be the whole body.
_SCAN = json.JSONDecoder().raw_decode


@dataclass(frozen=True)
class VerifyReport:
    size: int
    tree_heads_checked: int
    first_bad_seq: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "size": self.size,
            "tree_heads_checked": self.tree_heads_checked,
            "first_bad_seq": self.first_bad_seq,
            "problem": self.problem,
        }


class _Bad(Exception):
    def __init__(self, seq: int | None, problem: str) -> None:
        super().__init__(problem)
        self.seq, self.problem = seq, problem


def _check_event(row: tuple[Any, ...], previous: bytes, two_back: bytes) -> tuple[bytes, bytes]:
    """Returns (leaf hash, chain hash) of a good event, or raises naming the bad one."""
    seq, kind, resident, service, text, stored_leaf, stored_chain = row
    body = text.encode()
    try:
        fields = json.loads(text)
    except ValueError:
        raise _Bad(seq, f"event {seq} was edited: it is no longer valid JSON") from None
    claimed = fields.get("seq") if isinstance(fields, dict) else None
    if claimed != seq:
        if claimed == seq - 1:
            raise _Bad(seq - 1, f"an event was inserted at {seq - 1}: later events renumbered")
        raise _Bad(seq, f"event {seq} is out of place: its hashed body says it is {claimed}")
    copies = (fields.get("kind"), fields.get("resident"), fields.get("service"))
    if copies != (kind, resident, service):
        raise _Bad(seq, f"event {seq} was edited: its columns differ from its hashed body")
    leaf = leaf_hash(body)
    if leaf != bytes(stored_leaf):
        raise _Bad(seq, f"event {seq} was edited: its contents no longer match its hash")
    linked = chain(previous, leaf)
    stored = bytes(stored_chain)
    if linked != stored:
        if seq >= 2 and stored == chain(two_back, leaf):
            raise _Bad(seq - 1, f"event {seq - 1} was inserted: event {seq} follows {seq - 2}")
        raise _Bad(seq, f"event {seq} does not follow from the event before it")
    return leaf, linked


_COLUMNS = ("seq", "kind", "resident", "service", "body", "leaf_hash", "chain_hash")
_EVENTS_IN_ORDER = (
    "SELECT seq, kind, resident, service, body, leaf_hash, chain_hash FROM ledger_events "
    "ORDER BY seq"
)


def _snapshot(conn: Connection) -> None:
    """Read the head, the tree heads and every event as of one moment.

    Without it a writer appending between the head and the events would look like events
    added behind the ledger's back.
    """
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN")  # deferred: the snapshot starts at the first read
    elif conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")


Batch = Sequence[tuple[Any, ...]]


def _prefetched(fetch: Callable[[], Batch]) -> Generator[Batch, None, None]:
    """``fetch()`` until it returns nothing, one batch ahead on a thread.

    The database works on the next batch (and the driver waits for it without the GIL)
    while this one is checked, so the server's time and ours overlap instead of adding up.
    """
    ready: queue.Queue[Batch | BaseException | None] = queue.Queue(maxsize=2)
    stop = threading.Event()

    def offer(item: Batch | BaseException | None) -> None:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.05)
                return
            except queue.Full:
                continue

    def run() -> None:
        try:
            while not stop.is_set() and (batch := fetch()):
                offer(batch)
        except BaseException as exc:  # handed to the reader, which raises it
            offer(exc)
            return
        offer(None)

    worker = threading.Thread(target=run, name="ledger-verify-fetch", daemon=True)
    worker.start()
    try:
        while (item := ready.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()


def _event_batches(conn: Connection) -> Generator[Batch, None, None]:
    """Every event as plain tuples of the seven columns, in order, in large batches.

    The driver's cursor where we know it (no SQLAlchemy row objects, a large fetch per
    round trip, fetched ahead on a thread); anything else goes through SQLAlchemy's
    streamed query.
    """
    raw = conn.connection.driver_connection
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        # A named (server-side) cursor in binary: bigint and bytea arrive as bytes to copy,
        # not text to parse (measured: half the client CPU of the text protocol or COPY).
        cursor = raw.cursor("kentcard_ledger_verify", binary=True)  # type: ignore[union-attr]
        cursor.itersize = _READ_BATCH
    elif conn.dialect.name == "sqlite":
        cursor = raw.cursor()  # type: ignore[union-attr]
    else:
        cursor = None
    if cursor is not None:
        try:
            cursor.execute(_EVENTS_IN_ORDER)
            with closing(_prefetched(lambda: cursor.fetchmany(_READ_BATCH))) as batches:
                yield from batches
        finally:
            cursor.close()
        return
    query = select(*(EVENTS.c[name] for name in _COLUMNS)).order_by(EVENTS.c.seq)
    result = conn.execute(query.execution_options(yield_per=_READ_BATCH))
    for partition in result.partitions():
        yield [(*row[:5], bytes(row[5]), bytes(row[6])) for row in partition]


def verify(engine: Engine, keys: Mapping[str, ec.EllipticCurvePublicKey]) -> VerifyReport:
    """Check every event, the chain head and every signed tree head (with ``keys``)."""
    walk = _Walk(keys)
    try:
        with engine.connect() as conn:
            _snapshot(conn)
            head_size, head_chain = read_head(conn, for_update=False)
            walk.expect(list(conn.execute(select(TREE_HEADS).order_by(TREE_HEADS.c.tree_size))))
            walk.check_heads_due()  # the tree heads of the empty ledger, if any
            # Closed (the server-side cursor with it) before the connection, even on a bad event.
            with closing(_event_batches(conn)) as batches:
                walk.check_events(batches)
            walk.check_end(head_size, head_chain)
    except _Bad as bad:
        return VerifyReport(walk.size, walk.checked, bad.seq, bad.problem)
    return VerifyReport(walk.size, walk.checked)


class _Walk:
    """How far a check has gone: events checked (``size``), their chain and Merkle tree,
    and the signed tree heads checked and still to come."""

    def __init__(self, keys: Mapping[str, ec.EllipticCurvePublicKey]) -> None:
        self.keys = keys
        self.builder = RootBuilder()
        self.size = 0
        self.checked = 0
        self.last_good = 0
        self.previous = self.two_back = GENESIS_CHAIN_HASH
        self._pending: Iterator[Any] = iter(())
        self.next_head: Any = None

    def expect(self, heads: Sequence[Any]) -> None:
        """The signed tree heads, smallest first."""
        self._pending = iter(heads)
        self.next_head = next(self._pending, None)

    @property
    def stop(self) -> int:
        """The size at which the next tree head is checked (-1: none left)."""
        return self.next_head.tree_size if self.next_head is not None else -1

    def check_heads_due(self) -> None:
        """Check each tree head that covers exactly the events checked so far."""
        while self.next_head is not None and self.next_head.tree_size == self.size:
            self.last_good = _check_head(self.next_head, self.builder, self.keys, self.last_good)
            self.checked += 1
            self.next_head = next(self._pending, None)

    def check_events(self, batches: Iterable[Batch]) -> None:
        """Every event in order: its number, its body against its columns, its hash, its
        link to the one before; each tree head when the events reach its size.

        The fast path accepts exactly what _check_event accepts; on any doubt it hands the
        row to _check_event, which names the problem. Leaves go to the Merkle tree a batch
        at a time, and up to a tree head's size before it is checked. The loop keeps its
        state in locals (the hot path) and leaves it in the walk however it ends.
        """
        sha256, scan = hashlib.sha256, _SCAN
        size, previous, two_back, stop = self.size, self.previous, self.two_back, self.stop
        try:
            for batch in batches:
                leaves: list[bytes] = []
                keep = leaves.append
                for row in batch:
                    seq, kind, resident, service, text, stored_leaf, stored_chain = row
                    expected = size + 1
                    if seq != expected:
                        raise _Bad(expected, f"event {expected} is missing (deleted)")
                    try:
                        fields, end = scan(text)
                    except ValueError:
                        fields, end = None, -1
                    leaf = sha256(b"\x00" + text.encode()).digest()
                    linked = sha256(previous + leaf).digest()
                    if (
                        end != len(text)
                        or type(fields) is not dict
                        or fields.get("seq") != seq
                        or fields.get("kind") != kind
                        or fields.get("resident") != resident
                        or fields.get("service") != service
                        or leaf != stored_leaf
                        or linked != stored_chain
                    ):
                        leaf, linked = _check_event(row, previous, two_back)
                    two_back, previous, size = previous, linked, expected
                    keep(leaf)
                    if size == stop:
                        self.size = size
                        self.builder.extend(leaves)
                        leaves.clear()
                        self.check_heads_due()
                        stop = self.stop
                self.builder.extend(leaves)
        finally:
            self.size, self.previous, self.two_back = size, previous, two_back

    def check_end(self, head_size: int, head_chain: bytes) -> None:
        """The events end where the ledger's head says, and no tree head is left over."""
        size = self.size
        if size > head_size:
            raise _Bad(head_size + 1, f"events after {head_size} were added outside the ledger")
        if size < head_size:
            raise _Bad(size + 1, f"events {size + 1} to {head_size} are missing (deleted)")
        if self.previous != head_chain:
            raise _Bad(size or None, "the ledger head does not match the last event")
        if (head := self.next_head) is not None:
            raise _Bad(
                size + 1, f"a signed tree head covers {head.tree_size} events, but there are {size}"
            )


def _check_head(
    head: Any, builder: RootBuilder, keys: Mapping[str, ec.EllipticCurvePublicKey], good: int
) -> int:
    """A signed tree head must be signed by a known key and match the events' root."""
    body = head.body.encode()
    fields = json.loads(body)
    key = keys.get(head.key_id)
    if key is None or not verify_signature(key, body, bytes(head.signature)):
        raise _Bad(None, f"the tree head at size {head.tree_size} has no valid signature")
    root = builder.root()
    if fields.get("tree_size") != head.tree_size or fields.get("root_hash") != root.hex():
        raise _Bad(
            good + 1,
            f"events {good + 1} to {head.tree_size} were rewritten: they no longer match the "
            f"tree head signed at size {head.tree_size}",
        )
    return int(head.tree_size)
