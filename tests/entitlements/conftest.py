"""Factories for facts: ``fact(FactName.X, value, **provenance overrides)``."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest

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
