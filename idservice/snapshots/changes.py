"""From the card register to a list's records, and from two lists to the delta between.

Pure functions over bytes (no database, no Flask), so the builder's arithmetic is tested
on its own: :func:`records_from_rows` turns the register's rows into sorted records,
:func:`diff` finds what changed between two full lists, and :func:`compose` joins
consecutive deltas into one. A delta names each card whose records changed and gives all
of that card's records now (or lists its fingerprint as removed); see docs/readers.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from cardio.snapshot_format import (
    FINGERPRINT_LENGTH,
    RECORD_LENGTH,
    card_records,
    day_number,
    fingerprint,
    group_by_card,
    hotlist_record,
    pack_record,
)

HOTLISTED, REPLACED = "hotlisted", "replaced"


@dataclass(frozen=True)
class Change:
    """A delta's content: fingerprints removed, and every record of each changed card."""

    removed: bytes
    records: bytes

    @property
    def cards(self) -> int:
        cards = {self.records[i : i + 8] for i in range(0, len(self.records), RECORD_LENGTH)}
        return len(self.removed) // FINGERPRINT_LENGTH + len(cards)


NO_CHANGE = Change(b"", b"")


def hotlist_reason(status: str, reason: str | None) -> str:
    """The list's reason for a card that must be refused (as the online decision says)."""
    if status == HOTLISTED:
        return reason or "cancelled"  # no one reported it: the council cancelled it
    return reason or "replaced"


def records_from_rows(
    entitled: Iterable[tuple[bytes, str, date | None, date | None]],
    refused: Iterable[tuple[bytes, str, str | None]],
    services: Sequence[str],
) -> tuple[bytes, int]:
    """(sorted records, hotlist count) from the register's rows.

    ``entitled``: (card public key, service, valid from, valid until) per current
    entitlement of an active card; ``refused``: (card public key, status, reason) per
    hotlisted or replaced card. A card in both (it cannot be, but a register caught mid
    change could say so) is listed as refused only.
    """
    index = {code: position for position, code in enumerate(services)}
    records: set[bytes] = set()
    hotlisted: set[bytes] = set()
    for public_key, status, reason in refused:
        fp = fingerprint(bytes(public_key))
        if fp not in hotlisted:
            hotlisted.add(fp)
            records.add(hotlist_record(fp, hotlist_reason(status, reason)))
    for public_key, service, valid_from, valid_until in entitled:
        fp = fingerprint(bytes(public_key))
        if fp in hotlisted:
            continue
        records.add(
            pack_record(
                fp,
                index[service],
                day_number(valid_from, end=False),
                day_number(valid_until, end=True),
            )
        )
    return b"".join(sorted(records)), len(hotlisted)


def _split(records: bytes) -> set[bytes]:
    return {records[i : i + RECORD_LENGTH] for i in range(0, len(records), RECORD_LENGTH)}


def diff(old: bytes, new: bytes) -> Change:
    """The delta from the full list ``old`` to the full list ``new``."""
    before, after = _split(old), _split(new)
    changed = {r[:FINGERPRINT_LENGTH] for r in before ^ after}
    removed, records = [], []
    for fp in sorted(changed):
        now = card_records(new, fp)
        if now:
            records.append(now)
        else:
            removed.append(fp)
    return Change(b"".join(removed), b"".join(records))


def compose(changes: Sequence[Change]) -> Change:
    """One delta doing what ``changes`` (oldest first, each following the one before) do."""
    latest: dict[bytes, bytes] = {}
    for change in changes:
        for at in range(0, len(change.removed), FINGERPRINT_LENGTH):
            latest[change.removed[at : at + FINGERPRINT_LENGTH]] = b""
        latest.update(group_by_card(change.records))
    return _as_change(latest)


def _as_change(latest: dict[bytes, bytes]) -> Change:
    removed, records = [], []
    for fp in sorted(latest):
        if latest[fp]:
            records.append(latest[fp])
        else:
            removed.append(fp)
    return Change(b"".join(removed), b"".join(records))


class Composer:
    """Deltas to one version from ever older ones: fold each older change in underneath.

    ``Composer(newest)`` is the delta from the version before the newest; each
    :meth:`under` takes the change before that, so after it :meth:`change` is the delta
    from one version further back. Cards already changed later keep their later records.
    """

    def __init__(self, newest: Change) -> None:
        self._latest: dict[bytes, bytes] = {}
        self.under(newest)

    def under(self, older: Change) -> None:
        for at in range(0, len(older.removed), FINGERPRINT_LENGTH):
            self._latest.setdefault(older.removed[at : at + FINGERPRINT_LENGTH], b"")
        for fp, records in group_by_card(older.records):
            self._latest.setdefault(fp, records)

    def size(self) -> int:
        return sum(len(records) or FINGERPRINT_LENGTH for records in self._latest.values())

    def change(self) -> Change:
        return _as_change(self._latest)
