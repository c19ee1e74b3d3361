"""Properties the engine must hold for every date of birth, not just the examples."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from entitlements.catalogue import Catalogue, load_catalogue
from entitlements.dates import add_years_months, birthday, school_year_for
from entitlements.engine import decide
from entitlements.facts import Address
from entitlements.pension_age import Sex, concessionary_travel_date, state_pension_date
from entitlements.results import Outcome
from tests.entitlements.conftest import facts

CATALOGUE: Catalogue = load_catalogue()
KENT = Address("TN23 1AA")  # Ashford
LIMITED = settings(max_examples=200, deadline=None)

births = st.dates(min_value=date(1930, 1, 1), max_value=date(1995, 12, 31))
leap_days = st.sampled_from([date(y, 2, 29) for y in range(1932, 1996, 4)])
month_ends = st.builds(
    lambda y, m: add_years_months(date(y, m, 1), months=1) - timedelta(days=1),
    st.integers(1930, 1995),
    st.integers(1, 12),
)
any_birth = st.one_of(births, leap_days, month_ends)


@LIMITED
@given(any_birth)
def test_bus_pass_never_before_state_pension_age_and_always_on_it(dob: date) -> None:
    service = CATALOGUE.get("bus-pass-older")
    held = facts(date_of_birth=dob, address=KENT)
    reaches = concessionary_travel_date(dob)
    before = decide(service, held, reaches - timedelta(days=1))
    assert before.outcome is Outcome.NOT_ELIGIBLE
    assert before.valid_from == reaches
    on = decide(service, held, reaches)
    assert on.outcome is Outcome.ELIGIBLE
    assert on.valid_from == reaches


@LIMITED
@given(any_birth)
def test_state_pension_age_is_between_60_and_68_and_men_never_earlier(dob: date) -> None:
    woman = state_pension_date(dob, Sex.FEMALE)
    man = state_pension_date(dob, Sex.MALE)
    assert birthday(dob, 60) <= woman <= man <= birthday(dob, 68)
    assert woman.year - dob.year in range(60, 69)


@LIMITED
@given(any_birth)
def test_birthdays_exist_for_leap_day_and_month_end_births(dob: date) -> None:
    for age in (18, 60, 65, 66, 67, 68):
        day = birthday(dob, age)
        assert day.year == dob.year + age and day.month == dob.month
        assert day.day == dob.day or (day + timedelta(days=1)).month != day.month


school_births = st.one_of(
    st.dates(min_value=date(2005, 1, 1), max_value=date(2020, 12, 31)),
    st.builds(lambda y: date(y, 8, 31), st.integers(2005, 2020)),
    st.builds(lambda y: date(y, 9, 1), st.integers(2005, 2020)),
    st.builds(lambda y: date(y, 2, 29), st.sampled_from(range(2008, 2021, 4))),
)
days_in_2026_27 = st.dates(min_value=date(2026, 9, 1), max_value=date(2027, 8, 31))


@LIMITED
@given(school_births, days_in_2026_27)
def test_travel_saver_follows_the_1_september_cut_off(dob: date, on: date) -> None:
    """Years 7 to 11 in 2026/27 are exactly those born 1 Sep 2010 to 31 Aug 2015."""
    decision = decide(
        CATALOGUE.get("kent-travel-saver"), facts(date_of_birth=dob, address=KENT), on
    )
    in_range = date(2010, 9, 1) <= dob <= date(2015, 8, 31)
    assert (decision.outcome is Outcome.ELIGIBLE) == in_range
    if in_range:
        assert decision.valid_until == date(2027, 8, 31)
    # Everyone born in one 1 September to 31 August span shares a year group.
    cohort_start = date(dob.year if dob.month >= 9 else dob.year - 1, 9, 1)
    assert school_year_for(dob, on) == school_year_for(cohort_start, on)


@LIMITED
@given(school_births, days_in_2026_27)
def test_travel_saver_is_never_granted_past_the_academic_year(dob: date, on: date) -> None:
    for code in ("kent-travel-saver", "16-plus-travel-saver"):
        held = facts(date_of_birth=dob, address=KENT, full_time_education=True)
        decision = decide(CATALOGUE.get(code), held, on)
        if decision.outcome is Outcome.ELIGIBLE:
            assert decision.valid_from == on
            assert decision.valid_until == date(2027, 8, 31)
        elif decision.valid_from is not None:
            assert decision.valid_from.month == 9 and decision.valid_from.day == 1
