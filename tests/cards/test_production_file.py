"""The card production file for the card bureau: names, numbers, photos and symbols.

Cards are issued through the counter service onto virtual cards; entitlements come from
the ledger; the command runs against the suite's database (SQLite or PostgreSQL).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import select, update

from entitlements.catalogue import CatalogueError, load_catalogue, parse_catalogue
from entitlements.ledger.events import EventKind
from idservice.cards import issuance
from idservice.cards.issuance import CounterActor
from idservice.cards.production import NAME_LIMIT, printed_name
from idservice.cli import main
from idservice.config import Settings
from idservice.db import db_session, session_factory
from idservice.models import AuditRecord
from idservice.models.cards import Card
from idservice.services.activity import activity_for
from tests.accounts.conftest import in_app
from tests.cards.conftest import grant
from tests.cards.test_issuance import issue_one
from tests.entitlements.test_catalogue import GOOD
from tests.factories import create_resident, create_staff


@pytest.mark.parametrize(
    ("given", "family", "printed"),
    [
        ("Ada", "Lovelace", "Ada Lovelace"),
        ("  Mary   Ann ", " Evans ", "Mary Ann Evans"),  # spaces collapsed
        ("Siobhán", "Ní Bhriain", "Siobhán Ní Bhriain"),  # letters kept as written
        ("Margaret Josephine", "Taylor-Smithson", "M J Taylor-Smithson"),  # 34 -> initials
        ("Anne Beatrice Catherine Diana", "Fotheringham-Whitley", "A Fotheringham-Whitley"),
        ("Hubert", "Wolfeschlegelsteinhausenbergerdorff", "H Wolfeschlegelsteinhausen"),
        ("Ab", "Cdefghijklmnopqrstuvwxy", "Ab Cdefghijklmnopqrstuvwxy"),  # exactly 26
        ("Ab", "Cdefghijklmnopqrstuvwxyz", "A Cdefghijklmnopqrstuvwxyz"),  # 27: initial
    ],
)
def test_printed_name_rule(given: str, family: str, printed: str) -> None:
    assert printed_name(given, family) == printed
    assert len(printed) <= NAME_LIMIT


def test_card_symbols_are_catalogue_data_and_checked() -> None:
    catalogue = load_catalogue()
    assert catalogue.get("library").card_symbol == "L"
    assert catalogue.get("bus-pass-older").card_symbol == "B"
    assert catalogue.get("blue-badge").card_symbol is None  # not on the card
    with_symbol = GOOD.replace("on_card = true", 'on_card = true\ncard_symbol = "X"')
    assert parse_catalogue(with_symbol).get("test").card_symbol == "X"
    with pytest.raises(CatalogueError, match="card_symbol must be"):
        parse_catalogue(GOOD.replace("on_card = true", 'on_card = true\ncard_symbol = "lib"'))
    with pytest.raises(CatalogueError, match="only for services with on_card"):
        parse_catalogue(GOOD.replace("on_card = true", 'on_card = false\ncard_symbol = "X"'))
    second = with_symbol.replace('code = "test"', 'code = "other"')
    with pytest.raises(CatalogueError, match="more than one service"):
        parse_catalogue(with_symbol + second)


@pytest.fixture
def cli(app: Flask, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    for name, value in {
        "KENTCARD_DATABASE_URL": settings.database_url,
        "KENTCARD_SECRET_KEY": settings.secret_key,
        "KENTCARD_INSTANCE_PATH": str(settings.instance_path),
        "KENTCARD_ISSUER": settings.issuer,
    }.items():
        monkeypatch.setenv(name, value)
    bind = session_factory.kw.get("bind")
    yield CliRunner()
    db_session.remove()
    session_factory.configure(bind=bind)


def _issue(app: Flask, blank_card, given: str, family: str, photo: str | None) -> Card:
    with in_app(app):
        resident = create_resident(given_name=given, family_name=family)
        staff = create_staff()
        actor = CounterActor(staff.id, staff.role, "face-to-face", "new card")
    card = issue_one(app, actor, resident.id, blank_card())
    if photo:
        with in_app(app):
            db_session.execute(update(Card).where(Card.id == card.id).values(photo_reference=photo))
            db_session.commit()
    return card


@pytest.fixture
def two_cards(app: Flask, blank_card) -> tuple[Card, Card]:
    quoted = _issue(app, blank_card, 'Mary "Molly", Jr', "O'Brien", "photo:2026/11/0001.jpg")
    plain = _issue(app, blank_card, "Ada", "Lovelace", None)
    grant(app, quoted.resident_id, "library")
    grant(app, quoted.resident_id, "bus-pass-older")
    grant(app, quoted.resident_id, "blue-badge")  # not on the card: no symbol
    grant(app, plain.resident_id, "library", kind=EventKind.GRANT)
    grant(app, plain.resident_id, "library", kind=EventKind.REVOKE)  # no longer held
    grant(app, plain.resident_id, "kent-travel-saver", valid_until=date(2020, 8, 31))  # ended
    return quoted, plain


def test_csv_quotes_every_field_and_round_trips(
    cli: CliRunner, two_cards: tuple[Card, Card], tmp_path: Path
) -> None:
    quoted, plain = two_cards
    out = tmp_path / "bureau" / "cards.csv"
    result = cli.invoke(main, ["cards", "production-file", "--format", "csv", "--out", str(out)])
    assert result.exit_code == 0, result.output
    raw = out.read_bytes().decode("utf-8")  # as written: CRLF line ends (RFC 4180)
    assert raw.startswith(
        '"name_as_printed","card_number","expiry","photo_reference","entitlement_symbols"\r\n'
    )
    assert f'"Mary ""Molly"", Jr O\'Brien","{quoted.card_number}"' in raw
    rows = {r["card_number"]: r for r in csv.DictReader(io.StringIO(raw))}
    assert rows[quoted.card_number] == {
        "name_as_printed": 'Mary "Molly", Jr O\'Brien',
        "card_number": quoted.card_number,
        "expiry": quoted.expiry.isoformat(),
        "photo_reference": "photo:2026/11/0001.jpg",
        "entitlement_symbols": "L B",
    }
    assert rows[plain.card_number]["photo_reference"] == ""
    assert rows[plain.card_number]["entitlement_symbols"] == ""
    assert out.stat().st_mode & 0o777 == 0o600
    assert "without a photo" in result.output


def test_json_shape(cli: CliRunner, two_cards: tuple[Card, Card]) -> None:
    quoted, plain = two_cards
    result = cli.invoke(main, ["cards", "production-file", "--format", "json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert set(document) == {"format", "produced_on", "name_limit", "cards"}
    assert document["format"] == "kentcard-card-production/1"
    assert document["name_limit"] == NAME_LIMIT
    cards = {c["card_number"]: c for c in document["cards"]}
    assert cards[quoted.card_number] == {
        "name_as_printed": 'Mary "Molly", Jr O\'Brien',
        "card_number": quoted.card_number,
        "expiry": quoted.expiry.isoformat(),
        "photo_reference": "photo:2026/11/0001.jpg",
        "entitlement_symbols": ["L", "B"],
    }
    assert cards[plain.card_number]["photo_reference"] is None
    assert cards[plain.card_number]["entitlement_symbols"] == []


def test_every_export_is_audited_for_each_resident(
    app: Flask, cli: CliRunner, two_cards: tuple[Card, Card]
) -> None:
    quoted, _ = two_cards
    for fmt in ("csv", "json"):
        assert cli.invoke(main, ["cards", "production-file", "--format", fmt]).exit_code == 0
    with in_app(app):
        records = db_session.scalars(
            select(AuditRecord).where(
                AuditRecord.resident_id == quoted.resident_id,
                AuditRecord.action == "card.production_file",
            )
        ).all()
        assert sorted(r.details["format"] for r in records) == ["csv", "json"]
        assert all(r.details["card_id"] == quoted.id for r in records)
        assert all("Molly" not in json.dumps(r.details) for r in records)  # no names
        items = activity_for(quoted.resident_id)
    assert "Your name and Kent Card details were sent to the card printer" in [
        i.what for i in items
    ]


def test_since_and_bad_input(cli: CliRunner, two_cards: tuple[Card, Card]) -> None:
    quoted, _ = two_cards
    tomorrow = (date.today() + timedelta(days=1)).isoformat()
    later = cli.invoke(main, ["cards", "production-file", "--format", "json", "--since", tomorrow])
    assert later.exit_code == 0 and json.loads(later.output)["cards"] == []
    today = cli.invoke(
        main, ["cards", "production-file", "--format", "json", "--since", date.today().isoformat()]
    )
    assert quoted.card_number in [c["card_number"] for c in json.loads(today.output)["cards"]]
    bad = cli.invoke(main, ["cards", "production-file", "--format", "csv", "--since", "23/11"])
    assert bad.exit_code == 2 and "use YYYY-MM-DD" in bad.output
    wrong = cli.invoke(main, ["cards", "production-file", "--format", "xml"])
    assert wrong.exit_code == 2


def test_hotlisted_cards_are_not_printed(
    app: Flask, cli: CliRunner, two_cards: tuple[Card, Card]
) -> None:
    quoted, _ = two_cards
    with in_app(app):
        staff = create_staff()
        issuance.report_card(CounterActor(staff.id, staff.role), quoted.id, "lost")
    result = cli.invoke(main, ["cards", "production-file", "--format", "json"])
    assert quoted.card_number not in [c["card_number"] for c in json.loads(result.output)["cards"]]
