"""The card production file: what a card bureau needs to print the front of each card.

One row per active Kent Card (optionally only those issued on or after a date):

- ``name_as_printed``: the resident's first and last name from their record, at most
  :data:`NAME_LIMIT` characters (see :func:`printed_name` for the shortening rule);
- ``card_number`` and ``expiry`` (YYYY-MM-DD; the bureau formats it for the card);
- ``photo_reference``: the photo to print, a reference into the document store (empty when
  no photo has been captured: the bureau holds the card back);
- ``entitlement_symbols``: the symbols (``card_symbol`` in ``entitlements/data/services.toml``)
  of every service the resident holds today according to the ledger's projection, in
  catalogue order.

The file holds personal data (names), so every export is audited against each resident in
it, in the same transaction, and the resident sees it on their activity page. Nothing goes
in the ledger or the log.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time
from typing import Any, cast

from sqlalchemy import Table, select

from entitlements.catalogue import Catalogue
from entitlements.ledger.tables import EntitlementStateRow
from idservice import audit
from idservice.db import db_session, transactional
from idservice.models.cards import CARD_ACTIVE, Card
from idservice.models.residents import Resident

NAME_LIMIT = 26
FORMATS = ("csv", "json")
FIELDS = ("name_as_printed", "card_number", "expiry", "photo_reference", "entitlement_symbols")
JSON_FORMAT = "kentcard-card-production/1"
STATES = cast(Table, EntitlementStateRow.__table__)


def printed_name(given_name: str, family_name: str, limit: int = NAME_LIMIT) -> str:
    """The name as the card shows it, at most ``limit`` characters.

    1. "Given names Family name", spaces collapsed, if it fits;
    2. else the initials of the given names and the family name ("M J Taylor-Smith");
    3. else the first initial and the family name;
    4. else the family name cut to fit after the first initial ("A Wolfeschlegelsteinhaus").
    """
    given = given_name.split()
    family = " ".join(family_name.split())
    full = " ".join([*given, family])
    if len(full) <= limit or not given:
        return full[:limit]
    initials = " ".join([*(name[0] for name in given), family])
    if len(initials) <= limit:
        return initials
    first = f"{given[0][0]} "
    return first + family[: limit - len(first)]


@dataclass(frozen=True)
class ProductionRow:
    name_as_printed: str
    card_number: str
    expiry: str
    photo_reference: str | None
    entitlement_symbols: tuple[str, ...]


def dao_get_cards_to_print(since: date | None) -> list[tuple[Card, Resident]]:
    """Active cards with their resident, oldest issue first."""
    query = (
        select(Card, Resident)
        .join(Resident, Resident.id == Card.resident_id)
        .where(Card.status == CARD_ACTIVE)
        .order_by(Card.issued_at, Card.card_number)
    )
    if since is not None:
        query = query.where(Card.issued_at >= datetime.combine(since, time.min, UTC))
    return [(card, resident) for card, resident in db_session.execute(query)]


def dao_get_held_services(resident_ids: Sequence[str], on: date) -> dict[str, set[str]]:
    """Services each resident holds on ``on``, from the ledger's projection."""
    held: dict[str, set[str]] = {}
    for start in range(0, len(resident_ids), 500):
        chunk = resident_ids[start : start + 500]
        rows = db_session.execute(
            select(STATES.c.resident, STATES.c.service).where(
                STATES.c.resident.in_(chunk),
                STATES.c.status == "active",
                (STATES.c.valid_from.is_(None)) | (STATES.c.valid_from <= on),
                (STATES.c.valid_until.is_(None)) | (STATES.c.valid_until >= on),
            )
        )
        for resident, service in rows:
            held.setdefault(resident, set()).add(service)
    return held


def production_rows(
    catalogue: Catalogue, cards: Sequence[tuple[Card, Resident]], on: date
) -> list[ProductionRow]:
    held = dao_get_held_services([resident.id for _, resident in cards], on)
    symbols = [(s.code, s.card_symbol) for s in catalogue if s.on_card and s.card_symbol]
    rows = []
    for card, resident in cards:
        services = held.get(resident.id, set())
        rows.append(
            ProductionRow(
                name_as_printed=printed_name(resident.given_name, resident.family_name),
                card_number=card.card_number,
                expiry=card.expiry.isoformat(),
                photo_reference=card.photo_reference,
                entitlement_symbols=tuple(symbol for code, symbol in symbols if code in services),
            )
        )
    return rows


def render(rows: Iterable[ProductionRow], fmt: str, produced_on: date) -> str:
    """CSV (header row, every field quoted, symbols space-separated) or JSON."""
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
        writer.writerow(FIELDS)
        for row in rows:
            writer.writerow(
                [
                    row.name_as_printed,
                    row.card_number,
                    row.expiry,
                    row.photo_reference or "",
                    " ".join(row.entitlement_symbols),
                ]
            )
        return out.getvalue()
    if fmt == "json":
        document: dict[str, Any] = {
            "format": JSON_FORMAT,
            "produced_on": produced_on.isoformat(),
            "name_limit": NAME_LIMIT,
            "cards": [
                {**asdict(row), "entitlement_symbols": list(row.entitlement_symbols)}
                for row in rows
            ],
        }
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    raise ValueError(f"format must be one of {', '.join(FORMATS)}")


@transactional
def production_file(
    catalogue: Catalogue,
    fmt: str,
    since: date | None,
    on: date,
    operator: str,
    keep: Callable[[str], None] | None = None,
) -> tuple[str, list[ProductionRow]]:
    """The file's text and its rows, with one audit record per card.

    ``keep`` writes the text somewhere safe; the audit records are committed only once it
    has returned, and none is kept if it raises.
    """
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    cards = dao_get_cards_to_print(since)
    rows = production_rows(catalogue, cards, on)
    for card, resident in cards:
        audit.record(
            "card.production_file",
            resident_id=resident.id,
            actor_type="system",
            actor_id=operator,
            channel="system",
            reason="card production file for the card bureau",
            details={"card_id": card.id, "format": fmt, "columns": list(FIELDS)},
        )
    text = render(rows, fmt, on)
    if keep is not None:
        keep(text)
    return text, rows
