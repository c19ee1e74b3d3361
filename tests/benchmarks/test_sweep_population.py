"""The sweep benchmark's population is Kent-shaped, its grants hold, and its ledger verifies."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import create_engine, text

from benchmarks.sweep.population import (
    FIRST_DAY,
    YEARS_3,
    YEARS_5,
    Population,
    _Ledger,
    counts,
)
from entitlements.catalogue import load_catalogue
from entitlements.engine import decide
from entitlements.facts import Fact, FactSet, Provenance, Source, VerificationLevel
from entitlements.gazetteer import built_in_gazetteer
from entitlements.ledger.store import append, states
from entitlements.ledger.verify import verify
from entitlements.results import Outcome

POPULATION = Population(4000, b"p" * 32)
#: A first sweep on 1 September: the school year just ended.
SEPTEMBER = Population(2000, b"s" * 32, date(2027, 9, 1))


def _fact_set(population: Population, i: int) -> FactSet:
    return FactSet.of(
        Fact(
            row.name,
            row.value,
            Provenance(
                Source.STAFF_SEEN_DOCUMENT if row.level == 2 else Source.COUNCIL_DECISION,
                VerificationLevel(row.level),
                "benchmark",
                population.first_day - timedelta(days=400),
                row.expires_on,
            ),
        )
        for row in population.facts(i)
    )


def test_shape_is_kent_like() -> None:
    held = counts(POPULATION, range(POPULATION.count))
    share = {service: n / POPULATION.count for service, n in held.items()}
    assert 0.22 < share["bus-pass-older"] < 0.28  # about 400,000 of 1.6 million
    assert 0.75 < share["library"] < 0.90
    assert 0.01 < share["kent-travel-saver"] < 0.04
    assert 0.01 < share["bus-pass-disabled"] < 0.04
    assert "proof-of-age-18" not in held  # it lasts as long as a card: no cards here
    ages = [(FIRST_DAY - POPULATION.date_of_birth(i)).days / 365.25 for i in range(4000)]
    assert 0.15 < sum(a < 16 for a in ages) / len(ages) < 0.22
    assert max(ages) < 100 and min(ages) >= 0


def test_ends_are_spread_over_the_term() -> None:
    """Each day about 1/term of the holders come to their end, from the day before the
    first sweep on; nobody's ended earlier."""
    before = FIRST_DAY - timedelta(days=1)
    terms = {"library": YEARS_3, "bus-pass-older": YEARS_5}
    ends: dict[str, list[int]] = {code: [] for code in terms}
    for i in range(POPULATION.count):
        for h in POPULATION.holdings(i):
            assert h.valid_from <= before <= h.valid_until, h
            if h.service in terms:
                ends[h.service].append((h.valid_until - before).days)
                assert (h.valid_until - h.valid_from).days + 1 == terms[h.service]
    for code, days in ends.items():
        assert max(days) < terms[code]
        first_half = sum(d < terms[code] // 2 for d in days) / len(days)
        assert 0.42 < first_half < 0.58, (code, first_half)


@pytest.mark.parametrize("population", [POPULATION, SEPTEMBER], ids=["march", "september"])
def test_every_grant_is_what_the_engine_decides_from_the_facts(population: Population) -> None:
    places = built_in_gazetteer()
    services = {s.code: s for s in load_catalogue()}
    before = population.first_day - timedelta(days=1)
    checked = 0
    for i in range(population.count):
        facts = _fact_set(population, i)
        for h in population.holdings(i):
            decision = decide(services[h.service], facts, before, places)
            assert decision.outcome is Outcome.ELIGIBLE, (i, h, decision.reasons)
            # never beyond what a grant made now could last (the term, an age limit)
            until = decision.valid_until
            assert until is None or h.valid_until <= until, (i, h, until)
            checked += 1
    assert checked > 400


def test_a_first_sweep_on_1_september_finds_every_travel_saver_at_its_end() -> None:
    savers = [
        h
        for i in range(SEPTEMBER.count)
        for h in SEPTEMBER.holdings(i)
        if h.service in ("kent-travel-saver", "16-plus-travel-saver")
    ]
    assert len(savers) > 40
    assert {(h.valid_from, h.valid_until) for h in savers} == {
        (date(2026, 9, 1), date(2027, 8, 31))
    }


def test_grants_chain_like_appends(database_url: str) -> None:
    """The parent's numbering and chaining gives byte for byte what ``append`` writes."""
    import io

    count = 300
    population = Population(count, b"q" * 32, date(2027, 3, 15))
    grants, events = [], []
    for i in range(count):
        for h in population.holdings(i):
            event = population.grant(i, h)
            before, after = event.body(0).split(b'"seq":0,')
            grants.append(
                (population.resident_id(i), h.service, "", "", before, after),
            )
            events.append(event)
    ledger = _Ledger()
    ledger.write(grants, io.StringIO(), io.StringIO())
    engine = create_engine(database_url)
    try:
        append(engine, events)
        report = verify(engine, {})
        assert report.ok and report.size == len(events) == ledger.size
        with engine.connect() as conn:
            head = conn.exec_driver_sql("SELECT chain_hash FROM ledger_head").scalar_one()
        assert bytes(head) == ledger.chain_hash
        assert len(states(engine)) == len(events)
    finally:
        with engine.begin() as conn:  # leave the suite's ledger empty
            for table in ("ledger_events", "ledger_tree_heads", "entitlement_states"):
                conn.execute(text(f"DELETE FROM {table}"))
            conn.execute(text("UPDATE ledger_head SET size = 0, chain_hash = :z"), {"z": bytes(32)})
        engine.dispose()
