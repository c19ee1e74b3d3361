"""Factories for facts: ``fact(FactName.X, value, **provenance overrides)``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
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
from idservice.db import make_engine

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
