"""The engine's decisions for each catalogue service, in the cases staff meet."""

from __future__ import annotations

from datetime import date

import pytest

from entitlements.catalogue import Catalogue
from entitlements.engine import decide, decide_all
from entitlements.facts import (
    Address,
    BlueBadgeDecision,
    Disability,
    DisabilityCategory,
    FactName,
    FactSet,
    QualifyingAward,
    SchoolYear,
    Source,
    VerificationLevel,
)
from entitlements.results import Outcome
from tests.entitlements.conftest import TODAY, facts, make_fact

KENT = Address("CT9 1AA", uprn="100060000001")  # Margate, Thanet
MEDWAY = Address("ME4 4AA")  # Chatham
SPLIT = Address("ME1")  # Rochester or Wouldham: only the district is known


def test_library_for_an_adult_living_in_kent(catalogue: Catalogue) -> None:
    decision = decide(
        catalogue.get("library"), facts(date_of_birth=date(1980, 5, 1), address=KENT), TODAY
    )
    assert decision.outcome is Outcome.ELIGIBLE
    assert (decision.valid_from, decision.valid_until) == (TODAY, None)
    assert "Thanet" in decision.reasons[0]


def test_library_for_someone_who_works_in_kent_but_lives_in_medway(catalogue: Catalogue) -> None:
    held = facts(date_of_birth=date(1980, 5, 1), address=MEDWAY, works_in_kent=True)
    assert decide(catalogue.get("library"), held, TODAY).outcome is Outcome.ELIGIBLE
    held = facts(
        date_of_birth=date(1980, 5, 1), address=MEDWAY, works_in_kent=False, studies_in_kent=False
    )
    decision = decide(catalogue.get("library"), held, TODAY)
    assert decision.outcome is Outcome.NOT_ELIGIBLE
    assert "You do not live, work or study in Kent." in decision.reasons


def test_library_under_16_needs_consent(catalogue: Catalogue) -> None:
    child = {"date_of_birth": date(2015, 3, 1), "address": KENT}
    decision = decide(catalogue.get("library"), facts(**child), TODAY)
    assert decision.outcome is Outcome.NEEDS_FACTS
    assert [n.fact for n in decision.needs] == [FactName.PARENTAL_CONSENT]
    consented = decide(catalogue.get("library"), facts(**child, parental_consent=True), TODAY)
    assert consented.outcome is Outcome.ELIGIBLE


def test_older_persons_bus_pass_before_and_on_the_day(catalogue: Catalogue) -> None:
    service = catalogue.get("bus-pass-older")
    held = facts(date_of_birth=date(1960, 7, 31), address=KENT)
    before = decide(service, held, date(2026, 11, 29))
    assert before.outcome is Outcome.NOT_ELIGIBLE
    assert before.valid_from == date(2026, 11, 30)
    assert "30 November 2026" in " ".join(before.reasons)
    on = decide(service, held, date(2026, 11, 30))
    assert on.outcome is Outcome.ELIGIBLE
    assert on.valid_until == date(2031, 11, 29)


def test_a_man_gets_the_bus_pass_at_a_womans_state_pension_age(catalogue: Catalogue) -> None:
    held = facts(date_of_birth=date(1952, 1, 20), address=KENT)
    decision = decide(catalogue.get("bus-pass-older"), held, date(2013, 11, 6))
    assert decision.outcome is Outcome.ELIGIBLE


def test_bus_pass_in_medway_is_medways_to_give(catalogue: Catalogue) -> None:
    held = facts(date_of_birth=date(1950, 1, 1), address=MEDWAY)
    decision = decide(catalogue.get("bus-pass-older"), held, TODAY)
    assert decision.outcome is Outcome.NOT_ELIGIBLE
    assert "Medway" in decision.reasons[0]


@pytest.mark.parametrize(
    ("postcode", "where", "apply_to"),
    [
        ("M1 1AE", "North West England", "the council for that address"),  # Manchester
        ("EH1 1YZ", "Scotland", "the council for that address"),  # Edinburgh
        ("TN34 1AA", "Hastings", "Hastings council"),  # East Sussex
        ("SE1 7PB", "Lambeth or Southwark", "the council for that address"),  # London
    ],
)
def test_bus_pass_far_from_kent_is_not_in_kent_rather_than_needs_evidence(
    catalogue: Catalogue, postcode: str, where: str, apply_to: str
) -> None:
    held = facts(date_of_birth=date(1950, 1, 1), address=Address(postcode))
    decision = decide(catalogue.get("bus-pass-older"), held, TODAY)
    assert decision.outcome is Outcome.NOT_ELIGIBLE
    assert decision.needs == ()
    assert (
        f"Your postcode {postcode} is not in Kent: it is in {where}, which has its own council. "
        f"Apply to {apply_to} instead."
    ) in decision.reasons


def test_split_postcode_district_needs_evidence_never_a_guess(catalogue: Catalogue) -> None:
    held = facts(date_of_birth=date(1950, 1, 1), address=SPLIT)
    decision = decide(catalogue.get("bus-pass-older"), held, TODAY)
    assert decision.outcome is Outcome.NEEDS_FACTS
    assert decision.needs[0].fact is FactName.ADDRESS
    assert "(Medway / Tonbridge and Malling)" in decision.needs[0].why


def test_self_declared_date_of_birth_needs_proof_for_a_bus_pass(catalogue: Catalogue) -> None:
    held = FactSet.of(
        [
            make_fact(
                FactName.DATE_OF_BIRTH,
                date(1950, 1, 1),
                source=Source.SELF_DECLARED,
                level=VerificationLevel.DECLARED,
            ),
            make_fact(FactName.ADDRESS, KENT),
        ]
    )
    decision = decide(catalogue.get("bus-pass-older"), held, TODAY)
    assert decision.outcome is Outcome.NEEDS_FACTS
    (need,) = decision.needs
    assert need.more_evidence and need.fact is FactName.DATE_OF_BIRTH
    assert "proof of your date of birth" in need.why


def test_an_expired_fact_is_not_used(catalogue: Catalogue) -> None:
    held = FactSet.of(
        [
            make_fact(FactName.DATE_OF_BIRTH, date(1950, 1, 1)),
            make_fact(FactName.LIVES_IN_KENT, True, expires_on=date(2026, 1, 1)),
        ]
    )
    decision = decide(catalogue.get("bus-pass-older"), held, TODAY)
    assert decision.outcome is Outcome.NEEDS_FACTS
    assert decision.needs[0].fact is FactName.ADDRESS


def test_disabled_persons_pass_and_companion(catalogue: Catalogue) -> None:
    walking = Disability(DisabilityCategory.WALKING, "PIP award letter, moving around 10 points")
    held = facts(address=KENT, disability=walking)
    decision = decide(catalogue.get("bus-pass-disabled"), held, TODAY)
    assert decision.outcome is Outcome.ELIGIBLE
    assert "walking" in decision.reasons[1]
    companion = decide(catalogue.get("bus-pass-companion"), held, TODAY)
    assert companion.outcome is Outcome.NEEDS_FACTS
    assert [n.fact for n in companion.needs] == [FactName.NEEDS_COMPANION]
    with_companion = facts(address=KENT, disability=walking, needs_companion=True)
    assert decide(catalogue.get("bus-pass-companion"), with_companion, TODAY).outcome is (
        Outcome.ELIGIBLE
    )


def test_disabled_pass_without_a_category_lists_the_evidence(catalogue: Catalogue) -> None:
    decision = decide(catalogue.get("bus-pass-disabled"), facts(address=KENT), TODAY)
    assert decision.outcome is Outcome.NEEDS_FACTS
    assert "Certificate of Vision Impairment" in decision.needs[0].why


def test_kent_travel_saver_lasts_the_school_year(catalogue: Catalogue) -> None:
    service = catalogue.get("kent-travel-saver")
    year7 = facts(date_of_birth=date(2015, 8, 31), address=KENT)
    decision = decide(service, year7, TODAY)
    assert decision.outcome is Outcome.ELIGIBLE
    assert decision.valid_until == date(2027, 8, 31)
    year6 = facts(date_of_birth=date(2015, 9, 1), address=KENT)
    decision = decide(service, year6, TODAY)
    assert decision.outcome is Outcome.NOT_ELIGIBLE
    assert decision.valid_from == date(2027, 9, 1)


def test_a_recorded_school_year_beats_the_date_of_birth(catalogue: Catalogue) -> None:
    held = facts(
        date_of_birth=date(2015, 9, 1), address=KENT, school_year=SchoolYear(7, 2026)
    )  # educated out of year group
    assert decide(catalogue.get("kent-travel-saver"), held, TODAY).outcome is Outcome.ELIGIBLE
    # The recorded year moves on each September: Year 11 in 2030/31, Year 12 after.
    assert decide(catalogue.get("kent-travel-saver"), held, date(2030, 9, 1)).outcome is (
        Outcome.ELIGIBLE
    )
    assert decide(catalogue.get("kent-travel-saver"), held, date(2031, 9, 1)).outcome is (
        Outcome.NOT_ELIGIBLE
    )


def test_16_plus_travel_saver_ends_with_the_education_fact(catalogue: Catalogue) -> None:
    held = FactSet.of(
        [
            make_fact(FactName.DATE_OF_BIRTH, date(2010, 8, 31)),
            make_fact(FactName.ADDRESS, KENT),
            make_fact(FactName.FULL_TIME_EDUCATION, True, expires_on=date(2027, 7, 20)),
        ]
    )
    decision = decide(catalogue.get("16-plus-travel-saver"), held, TODAY)
    assert decision.outcome is Outcome.ELIGIBLE
    assert decision.valid_until == date(2027, 7, 20)
    too_young = facts(date_of_birth=date(2010, 9, 1), address=KENT, full_time_education=True)
    decision = decide(catalogue.get("16-plus-travel-saver"), too_young, TODAY)
    assert decision.outcome is Outcome.NOT_ELIGIBLE
    assert decision.valid_from == date(2027, 9, 1)


def test_blue_badge_decision_and_automatic_criteria(catalogue: Catalogue) -> None:
    service = catalogue.get("blue-badge")
    awarded = BlueBadgeDecision(True, date(2025, 3, 1), expires_on=date(2028, 2, 29))
    decision = decide(service, facts(blue_badge_decision=awarded), TODAY)
    assert (decision.outcome, decision.valid_until) == (Outcome.ELIGIBLE, date(2028, 2, 29))
    refused = BlueBadgeDecision(False, date(2026, 6, 1))
    assert decide(service, facts(blue_badge_decision=refused), TODAY).outcome is (
        Outcome.NOT_ELIGIBLE
    )
    expired = BlueBadgeDecision(True, date(2022, 3, 1), expires_on=date(2025, 2, 28))
    assert decide(service, facts(blue_badge_decision=expired), TODAY).outcome is (
        Outcome.NEEDS_FACTS
    )
    automatic = facts(qualifying_award=QualifyingAward.DLA_HIGHER_RATE_MOBILITY)
    decision = decide(service, automatic, TODAY)
    assert decision.outcome is Outcome.ELIGIBLE
    assert decision.valid_until == date(2029, 11, 22)
    assert "without further assessment" in decision.reasons[0]
    assert decide(service, facts(), TODAY).outcome is Outcome.NEEDS_FACTS


@pytest.mark.parametrize("dob", [date(2009, 2, 28), date(2008, 11, 24), date(2000, 1, 1)])
def test_proof_of_age_never_discloses_the_date_of_birth(catalogue: Catalogue, dob: date) -> None:
    decision = decide(catalogue.get("proof-of-age-18"), facts(date_of_birth=dob), TODAY)
    words = " ".join(decision.reasons)
    assert str(dob.year) not in words and str(dob.year + 18) not in words
    if decision.outcome is Outcome.NOT_ELIGIBLE:
        assert decision.valid_from is None
        assert decision.reasons == ("You are under 18.",)
    else:
        assert decision.reasons[0] == "You are 18 or over."


def test_partner_offer_under_25_ends_before_the_25th_birthday(catalogue: Catalogue) -> None:
    held = facts(date_of_birth=date(2002, 3, 10), address=KENT)
    decision = decide(catalogue.get("partner-young-person-leisure"), held, TODAY)
    assert (decision.outcome, decision.valid_until) == (Outcome.ELIGIBLE, date(2027, 3, 9))


def test_every_decision_explains_itself_in_words(catalogue: Catalogue) -> None:
    people = [
        FactSet(),
        facts(date_of_birth=date(1955, 6, 15), address=KENT),
        facts(date_of_birth=date(2012, 1, 31), address=SPLIT),
        facts(date_of_birth=date(2008, 2, 29), address=MEDWAY, full_time_education=True),
    ]
    for held in people:
        for decision in decide_all(catalogue, held, TODAY):
            assert decision.reasons, decision
            for text in [*decision.reasons, *(n.why for n in decision.needs)]:
                assert text[0].isupper() and text.endswith("."), text
                assert "None" not in text and "_" not in text and "{" not in text, text


def test_disabled_persons_pass_lasts_as_long_as_the_decision_at_most_5_years(
    catalogue: Catalogue,
) -> None:
    walking = Disability(DisabilityCategory.WALKING, "PIP award letter, moving around 10 points")
    service = catalogue.get("bus-pass-disabled")

    def until(award_ends: date | None) -> date | None:
        held = FactSet.of(
            [
                make_fact(FactName.ADDRESS, KENT),
                make_fact(FactName.DISABILITY, walking, expires_on=award_ends),
            ]
        )
        decision = decide(service, held, TODAY)
        assert decision.outcome is Outcome.ELIGIBLE
        return decision.valid_until

    two_years = date(TODAY.year + 2, 3, 31)
    assert until(two_years) == two_years  # the award's end
    five_years = service.lasts.end(TODAY)
    assert until(None) == five_years  # no end to the award: 5 years
    assert until(date(TODAY.year + 9, 1, 1)) == five_years  # at most 5 years


def test_proof_of_age_says_it_lasts_as_long_as_the_card(catalogue: Catalogue) -> None:
    held = facts(date_of_birth=date(1990, 5, 1))
    decision = decide(catalogue.get("proof-of-age-18"), held, TODAY)
    assert decision.outcome is Outcome.ELIGIBLE and decision.valid_until is None
    assert "until your Kent Card expires" in decision.reasons[-1]
