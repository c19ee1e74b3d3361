"""The date-of-birth window and the per-resident check behind ``entitlements due``."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from entitlements.catalogue import Catalogue, load_catalogue
from entitlements.dates import birthday
from entitlements.due import assess, birth_window, eligible_from, record_facts, record_services
from entitlements.engine import decide
from entitlements.facts import Source, VerificationLevel
from entitlements.gazetteer import built_in_gazetteer
from entitlements.pension_age import concessionary_travel_date
from entitlements.results import Outcome

RECORDED = datetime(2025, 1, 1, tzinfo=UTC)
GAZETTEER = built_in_gazetteer()
CATALOGUE = load_catalogue()  # module-level: hypothesis tests take no fixtures


def test_only_services_the_record_can_decide(catalogue: Catalogue) -> None:
    codes = {service.code for service in record_services(catalogue)}
    assert {"library", "bus-pass-older", "proof-of-age-18", "partner-leisure-60-plus"} <= codes
    assert not codes & {"bus-pass-disabled", "blue-badge", "16-plus-travel-saver"}


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2050, 12, 31)))
def test_bus_pass_window_ends_at_the_last_birth_date_that_qualifies(on: date) -> None:
    _, latest = birth_window(CATALOGUE.get("bus-pass-older"), on)
    assert concessionary_travel_date(latest) <= on
    assert concessionary_travel_date(latest + timedelta(days=1)) > on


def test_bus_pass_window_on_known_dates(catalogue: Catalogue) -> None:
    service = catalogue.get("bus-pass-older")
    # Pensions Act 2014: born 31 July 1960 reaches it on 30 November 2026; the band
    # 6 July to 5 August 1960 (66 years and 4 months) is the next to qualify.
    assert birth_window(service, date(2026, 11, 30)) == (None, date(1960, 7, 31))
    assert birth_window(service, date(2026, 11, 29)) == (None, date(1960, 7, 29))
    # Pensions Act 1995 table: born 6 to 5 in one band all reach it on one day.
    assert birth_window(service, date(2011, 1, 6))[1] == date(1950, 9, 5)
    assert birth_window(service, date(2011, 1, 5))[1] == date(1950, 8, 5)


def test_age_windows_include_leap_day_births(catalogue: Catalogue) -> None:
    proof = catalogue.get("proof-of-age-18")
    # born 29 February 2008: 18 on 28 February 2026
    assert birth_window(proof, date(2026, 2, 28)) == (None, date(2008, 2, 29))
    young = catalogue.get("partner-young-person-leisure")
    earliest, _ = birth_window(young, date(2026, 6, 1))
    assert birthday(earliest, 25) > date(2026, 6, 1) >= birthday(earliest - timedelta(1), 25)


@pytest.mark.parametrize(
    ("dob", "postcode", "on", "expected"),
    [
        (date(1960, 7, 31), "CT9 1AA", date(2026, 11, 30), date(2026, 11, 30)),
        (date(1960, 7, 31), "CT9 1AA", date(2026, 11, 29), None),  # a day early
        (date(1950, 1, 1), "ME4 4AA", date(2026, 11, 30), None),  # Medway, not Kent
        (date(1950, 1, 1), "ME5 9AA", date(2026, 11, 30), None),  # straddles: not a guess
    ],
)
def test_assess_bus_pass(
    catalogue: Catalogue, dob: date, postcode: str, on: date, expected: date | None
) -> None:
    facts = record_facts(dob, postcode, None, RECORDED)
    due = assess(catalogue.get("bus-pass-older"), "res-00000001", facts, on, GAZETTEER)
    assert (due and due.eligible_from) == expected


def test_self_declared_record_is_due_but_needs_proof(catalogue: Catalogue) -> None:
    service = catalogue.get("bus-pass-older")
    declared = record_facts(date(1950, 1, 1), "CT9 1AA", None, RECORDED)
    due = assess(service, "res-00000001", declared, date(2026, 1, 1), GAZETTEER)
    assert due is not None
    assert due.eligible_from == date(2010, 1, 1)  # 60th birthday, before the 1995 rise
    assert set(due.evidence_needed) == {"date_of_birth", "address"}
    checked = record_facts(
        date(1950, 1, 1), "CT9 1AA", None, RECORDED,
        VerificationLevel.CHECKED, Source.STAFF_SEEN_DOCUMENT,
    )  # fmt: skip
    due = assess(service, "res-00000001", checked, date(2026, 1, 1), GAZETTEER)
    assert due is not None and due.evidence_needed == ()


@given(
    dob=st.dates(min_value=date(1900, 1, 1), max_value=date(2025, 12, 31)),
    on=st.dates(min_value=date(2000, 1, 1), max_value=date(2060, 12, 31)),
)
def test_window_never_drops_anyone_the_engine_would_grant(dob: date, on: date) -> None:
    """The database filter is only a shortcut: it must agree with the engine."""
    assume(dob <= on)  # a resident is born before the report's date
    facts = record_facts(
        dob, "CT9 1AA", None, RECORDED, VerificationLevel.VERIFIED, Source.STAFF_SEEN_DOCUMENT
    )
    for service in record_services(CATALOGUE):
        earliest, latest = birth_window(service, on)
        inside = dob <= latest and (earliest is None or dob >= earliest)
        eligible = decide(service, facts, on, GAZETTEER).outcome is Outcome.ELIGIBLE
        assert inside == eligible, service.code
        if eligible:
            assert eligible_from(service, dob) <= on
