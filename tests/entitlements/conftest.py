"""Factories for facts: ``fact(FactName.X, value, **provenance overrides)``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import Engine, text

from entitlements.catalogue import Catalogue, load_catalogue
from entitlements.facts import (
    Fact,
    FactName,
    FactSet,
    FactValue,
    Provenance,
    Source,
    VerificationLevel,
)
from entitlements.ledger.signing import SigningKey, load_or_create_key
from idservice.config import Settings
from idservice.db import db_session, make_engine, session_factory

RECORDED = datetime(2025, 1, 1, 12, 0)


def make_fact(name: FactName, value: FactValue, **overrides: Any) -> Fact:
    provenance: dict[str, Any] = {
        "source": Source.STAFF_SEEN_DOCUMENT,
        "level": VerificationLevel.VERIFIED,
        "recorded_by": "staff:gateway-42",
        "recorded_at": RECORDED,
        "expires_on": None,
    }
    provenance.update(overrides)
    return Fact(name, value, Provenance(**provenance))


def facts(**values: Any) -> FactSet:
    """``facts(date_of_birth=date(...), address=Address(...))``: verified facts."""
    return FactSet.of(make_fact(FactName(name), value) for name, value in values.items())


@pytest.fixture(scope="session")
def catalogue() -> Catalogue:
    return load_catalogue()


TODAY = date(2026, 11, 23)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """The suite's migrated database; the ledger is emptied after each test."""
    engine = make_engine(database_url)
    yield engine
    with engine.begin() as conn:
        for table in ("ledger_events", "ledger_tree_heads", "entitlement_states"):
            conn.execute(text(f"DELETE FROM {table}"))
        conn.execute(text("UPDATE ledger_head SET size = 0, chain_hash = :z"), {"z": bytes(32)})
    engine.dispose()


@pytest.fixture
def key(tmp_path: Path) -> SigningKey:
    return load_or_create_key(tmp_path)


@pytest.fixture
def cli(app: Flask, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    """A runner whose ``kentcard`` commands use the suite's database and instance folder."""
    for name, value in {
        "KENTCARD_DATABASE_URL": settings.database_url,
        "KENTCARD_SECRET_KEY": settings.secret_key,
        "KENTCARD_INSTANCE_PATH": str(settings.instance_path),
        "KENTCARD_ISSUER": settings.issuer,
    }.items():
        monkeypatch.setenv(name, value)
    bind = session_factory.kw.get("bind")
    yield CliRunner()
    # A command that built its own app rebinds the session; give it back to the test app.
    db_session.remove()
    session_factory.configure(bind=bind)
