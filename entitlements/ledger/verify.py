"""Checking the whole ledger: every hash, every link, every signed tree head.

Names the first bad sequence number, so an auditor knows where to look: an edited event
no longer matches its hash; a deleted one leaves a gap (or, renumbered, a body that says
it is another event); a reordered one sits at a number its body disagrees with; an
inserted one makes the next event's chain hash follow from the event two before it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import Engine, select

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


def verify(engine: Engine, keys: Mapping[str, ec.EllipticCurvePublicKey]) -> VerifyReport:
    """Check every event, the chain head and every signed tree head (with ``keys``)."""
    checked = 0
    size = 0
    try:
        with engine.connect() as conn:
            head_size, head_chain = read_head(conn, for_update=False)
            heads = list(conn.execute(select(TREE_HEADS).order_by(TREE_HEADS.c.tree_size)))
            columns = ("seq", "kind", "resident", "service", "body", "leaf_hash", "chain_hash")
            query = select(*(EVENTS.c[name] for name in columns)).order_by(EVENTS.c.seq)
            rows = conn.execute(query.execution_options(yield_per=_READ_BATCH))
            builder = RootBuilder()
            previous = two_back = GENESIS_CHAIN_HASH
            pending = iter(heads)
            next_head = next(pending, None)
            last_good = 0
            while next_head is not None and next_head.tree_size == 0:
                checked, last_good = checked + 1, _check_head(next_head, builder, keys, last_good)
                next_head = next(pending, None)
            # The fast path accepts exactly what _check_event accepts; on any doubt it
            # hands the row to _check_event, which names the problem.
            sha256, scan = hashlib.sha256, _SCAN
            stop = next_head.tree_size if next_head is not None else -1
            for partition in rows.partitions():
                for row in partition:
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
                    builder.add(leaf)
                    while size == stop:
                        assert next_head is not None
                        last_good = _check_head(next_head, builder, keys, last_good)
                        checked += 1
                        next_head = next(pending, None)
                        stop = next_head.tree_size if next_head is not None else -1
            if size > head_size:
                raise _Bad(head_size + 1, f"events after {head_size} were added outside the ledger")
            if size < head_size:
                raise _Bad(size + 1, f"events {size + 1} to {head_size} are missing (deleted)")
            if previous != head_chain:
                raise _Bad(size or None, "the ledger head does not match the last event")
            if next_head is not None:
                raise _Bad(
                    size + 1,
                    f"a signed tree head covers {next_head.tree_size} events, but there are {size}",
                )
    except _Bad as bad:
        return VerifyReport(size, checked, bad.seq, bad.problem)
    return VerifyReport(size, checked)


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
