"""The add-a-service journey's pure rules, the fact codec and the catalogue's decision days."""

from __future__ import annotations

from datetime import date

import pytest

from entitlements.catalogue import DEFAULT_DECISION_DAYS, Catalogue, CatalogueError, parse_catalogue
from entitlements.codec import CodecError, from_json, to_json
from entitlements.engine import decide
from entitlements.facts import (
    Address,
    BlueBadgeDecision,
    Disability,
    DisabilityCategory,
    FactName,
    QualifyingAward,
    SchoolYear,
)
from entitlements.journey import (
    ASKABLE,
    Route,
    add_working_days,
    expected_decision,
    facts_read,
    is_working_day,
    next_question,
    questions,
    route,
)
from entitlements.results import Outcome
from tests.entitlements.conftest import TODAY, facts, make_fact

KENT = Address("CT9 1AA")
MEDWAY = Address("ME4 4AA")
SPLIT = Address("ME1")

VALUES = [
    (FactName.DATE_OF_BIRTH, date(1960, 2, 29)),
    (FactName.ADDRESS, Address("CT9 1AA", "100060000001")),
    (FactName.ADDRESS, Address("ME1")),
    (FactName.LIVES_IN_KENT, False),
    (FactName.SCHOOL_YEAR, SchoolYear(9, 2026)),
    (FactName.FULL_TIME_EDUCATION, True),
    (FactName.DISABILITY, Disability(DisabilityCategory.WALKING, "PIP award letter")),
    (FactName.BLUE_BADGE_DECISION, BlueBadgeDecision(True, date(2026, 1, 5), date(2029, 1, 4))),
    (FactName.BLUE_BADGE_DECISION, BlueBadgeDecision(False, date(2026, 1, 5))),
    (FactName.QUALIFYING_AWARD, QualifyingAward.DLA_HIGHER_RATE_MOBILITY),
    (FactName.PARENTAL_CONSENT, True),
    (FactName.NEEDS_COMPANION, False),
]


@pytest.mark.parametrize(("name", "value"), VALUES)
def test_every_fact_value_survives_json(name: FactName, value: object) -> None:
    assert from_json(name, to_json(name, value)) == value  # type: ignore[arg-type]


def test_codec_refuses_the_wrong_shape() -> None:
    with pytest.raises(CodecError):
        to_json(FactName.SCHOOL_YEAR, True)  # a bool is an int, but not a school year
    with pytest.raises(CodecError):
        from_json(FactName.FULL_TIME_EDUCATION, {"v": "yes"})
    with pytest.raises(CodecError):
        from_json(FactName.DATE_OF_BIRTH, {"v": "not a date"})
    with pytest.raises(CodecError):
        from_json(FactName.DISABILITY, {"v": {"category": "z", "evidence": ""}})


def test_working_days_skip_weekends() -> None:
    friday = date(2026, 11, 27)
    assert add_working_days(friday, 1) == date(2026, 11, 30)  # Monday
    assert add_working_days(friday, 10) == date(2026, 12, 11)
    assert add_working_days(date(2026, 11, 28), 1) == date(2026, 11, 30)  # from a Saturday
    assert add_working_days(friday, 0) == friday


def test_expected_decision_follows_the_catalogue(catalogue: Catalogue) -> None:
    assert catalogue.get("bus-pass-older").decision_days == DEFAULT_DECISION_DAYS == 10
    assert catalogue.get("blue-badge").decision_days == 60
    assert expected_decision(catalogue.get("blue-badge"), TODAY) == add_working_days(TODAY, 60)


def test_decision_days_must_be_a_number_of_working_days() -> None:
    entry = """[[service]]
code = "x1"
name = "X"
rule = "R"
evidence = "declared"
lasts = "1 year"
on_card = false
decision_days = {days}
  [[service.condition]]
  test = "lives-in-kent"
"""
    assert parse_catalogue(entry.format(days=5)).get("x1").decision_days == 5
    for bad in ("0", "121", "true", '"ten"'):
        with pytest.raises(CatalogueError, match="decision_days"):
            parse_catalogue(entry.format(days=bad))


def test_a_sixth_former_is_asked_about_full_time_education(catalogue: Catalogue) -> None:
    service = catalogue.get("16-plus-travel-saver")
    decision = decide(service, facts(date_of_birth=date(2009, 1, 15), address=KENT), TODAY)
    assert questions(decision) == [FactName.FULL_TIME_EDUCATION]
    assert route(decision) is Route.ASK
    assert next_question(decision, [FactName.FULL_TIME_EDUCATION]) is None
    assert route(decision, [FactName.FULL_TIME_EDUCATION]) is Route.REQUEST


def test_proof_of_address_is_never_asked_it_waits(catalogue: Catalogue) -> None:
    decision = decide(
        catalogue.get("library"), facts(date_of_birth=date(1980, 1, 1), address=SPLIT), TODAY
    )
    assert decision.outcome is Outcome.NEEDS_FACTS
    assert questions(decision) == [] and route(decision) is Route.REQUEST
    assert FactName.ADDRESS not in ASKABLE and FactName.DATE_OF_BIRTH not in ASKABLE


def test_living_in_medway_asks_about_work_and_study_not_the_address(catalogue: Catalogue) -> None:
    """Before the fix the engine asked for the address again, which was already known."""
    decision = decide(
        catalogue.get("library"), facts(date_of_birth=date(1980, 1, 1), address=MEDWAY), TODAY
    )
    assert [need.fact for need in decision.needs] == [
        FactName.WORKS_IN_KENT,
        FactName.STUDIES_IN_KENT,
    ]
    assert questions(decision) == [FactName.WORKS_IN_KENT, FactName.STUDIES_IN_KENT]
    worked = decide(
        catalogue.get("library"),
        facts(date_of_birth=date(1980, 1, 1), address=MEDWAY, works_in_kent=False),
        TODAY,
    )
    assert [need.fact for need in worked.needs] == [FactName.STUDIES_IN_KENT]


def test_grant_and_not_eligible_routes(catalogue: Catalogue) -> None:
    adult = facts(date_of_birth=date(1980, 1, 1), address=KENT)
    assert route(decide(catalogue.get("library"), adult, TODAY)) is Route.GRANT
    assert route(decide(catalogue.get("bus-pass-older"), adult, TODAY)) is Route.NOT_ELIGIBLE


def test_blue_badge_with_no_qualifying_award_waits_for_an_assessment(catalogue: Catalogue) -> None:
    decision = decide(catalogue.get("blue-badge"), facts(date_of_birth=date(1970, 1, 1)), TODAY)
    assert questions(decision) == [FactName.QUALIFYING_AWARD]
    assert route(decision, [FactName.QUALIFYING_AWARD]) is Route.REQUEST


def test_an_eligible_decision_cites_the_stored_facts_it_used(catalogue: Catalogue) -> None:
    held = [
        make_fact(FactName.DATE_OF_BIRTH, date(1948, 6, 2), reference="fact:1"),
        make_fact(FactName.ADDRESS, KENT, reference="fact:2"),
        make_fact(FactName.FULL_TIME_EDUCATION, False, reference="fact:3"),  # not used
    ]
    from entitlements.facts import FactSet

    decision = decide(catalogue.get("bus-pass-older"), FactSet.of(held), TODAY)
    assert decision.outcome is Outcome.ELIGIBLE
    assert decision.evidence == ("fact:1", "fact:2")
    assert (
        decide(
            catalogue.get("bus-pass-older"),
            facts(date_of_birth=date(1948, 6, 2), address=KENT),
            TODAY,
        ).evidence
        == ()
    )


def test_facts_read_lists_each_fact_once_in_rule_order(catalogue: Catalogue) -> None:
    assert facts_read(catalogue.get("library")) == [
        FactName.ADDRESS,
        FactName.LIVES_IN_KENT,
        FactName.WORKS_IN_KENT,
        FactName.STUDIES_IN_KENT,
        FactName.DATE_OF_BIRTH,
        FactName.PARENTAL_CONSENT,
    ]
    for service in catalogue:
        assert facts_read(service)  # every test the catalogue uses is in READS


def test_working_days_skip_english_bank_holidays() -> None:
    # Monday 30 August 2027 is the late summer bank holiday in England and Wales.
    assert add_working_days(date(2027, 8, 27), 1) == date(2027, 8, 31)
    assert add_working_days(date(2027, 8, 26), 1) == date(2027, 8, 27)
    # Christmas 2026: Friday 25, Boxing Day on Saturday 26 gives Monday 28 off.
    assert add_working_days(date(2026, 12, 24), 1) == date(2026, 12, 29)
    # Easter 2027: Good Friday 26 March and Easter Monday 29 March.
    assert add_working_days(date(2027, 3, 25), 1) == date(2027, 3, 30)
    # Scotland's own holidays (2 January, St Andrew's Day) are not England's.
    assert add_working_days(date(2026, 11, 27), 1) == date(2026, 11, 30)
    assert add_working_days(date(2027, 1, 1), 1) == date(2027, 1, 4)
    assert is_working_day(date(2027, 1, 4)) and not is_working_day(date(2027, 1, 1))


def test_a_request_made_before_a_bank_holiday_is_expected_a_day_later(
    catalogue: Catalogue,
) -> None:
    service = catalogue.get("bus-pass-older")  # 10 working days
    # Made on Tuesday 17 August 2027: ten working days would be Tuesday 31 August, but
    # Monday 30 August is a bank holiday, so the answer comes on Wednesday 1 September.
    assert expected_decision(service, date(2027, 8, 17)) == date(2027, 9, 1)
    # The same request a week earlier has no bank holiday in its way.
    assert expected_decision(service, date(2027, 8, 10)) == date(2027, 8, 24)
