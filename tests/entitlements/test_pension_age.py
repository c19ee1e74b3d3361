"""State Pension age against the GOV.UK timetables, by independent formulae and examples."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from entitlements.dates import add_years_months
from entitlements.pension_age import (
    BOTH_1953_TO_1954,
    BOTH_1960_TO_1961,
    BOTH_1977_TO_1978,
    WOMEN_1950_TO_1953,
    Sex,
    concessionary_travel_date,
    state_pension_date,
)


def _band_start(index: int, first: date) -> date:
    return add_years_months(first, months=index)


@pytest.mark.parametrize(
    ("table", "first_band", "first_reached", "steps"),
    [
        # Pensions Act 1995: +2 months per band, 6 May 2010 onwards (36 bands) ...
        (WOMEN_1950_TO_1953[:36], date(1950, 4, 6), date(2010, 5, 6), 2),
        # ... then the Pensions Act 2011's +4 months, 6 July 2016 to 6 November 2018.
        (WOMEN_1950_TO_1953[36:], date(1953, 4, 6), date(2016, 7, 6), 4),
        (BOTH_1953_TO_1954, date(1953, 12, 6), date(2019, 3, 6), 2),
        (BOTH_1977_TO_1978, date(1977, 4, 6), date(2044, 5, 6), 2),
    ],
)
def test_fixed_date_tables_follow_their_steps(
    table: tuple, first_band: date, first_reached: date, steps: int
) -> None:
    for i, step in enumerate(table):
        assert step.born_from == _band_start(i, first_band)
        assert step.born_to == _band_start(i + 1, first_band) - timedelta(days=1)
        assert step.reaches == add_years_months(first_reached, months=steps * i)


def test_table_sizes_and_ends() -> None:
    assert len(WOMEN_1950_TO_1953) == 44
    assert WOMEN_1950_TO_1953[-1].born_to == date(1953, 12, 5)
    assert WOMEN_1950_TO_1953[-1].reaches == date(2018, 11, 6)
    assert BOTH_1953_TO_1954[-1].born_to == date(1954, 10, 5)
    assert BOTH_1953_TO_1954[-1].reaches == date(2020, 9, 6)
    assert [s.months for s in BOTH_1960_TO_1961] == list(range(1, 12))
    assert BOTH_1960_TO_1961[-1].born_to == date(1961, 3, 5)
    assert BOTH_1977_TO_1978[-1].reaches == date(2046, 3, 6)


@pytest.mark.parametrize(
    ("dob", "sex", "expected"),
    [
        (date(1950, 4, 5), Sex.FEMALE, date(2010, 4, 5)),  # 60th birthday
        (date(1950, 4, 6), Sex.FEMALE, date(2010, 5, 6)),
        (date(1951, 8, 15), Sex.FEMALE, date(2013, 1, 6)),
        (date(1953, 4, 6), Sex.FEMALE, date(2016, 7, 6)),
        (date(1953, 12, 5), Sex.FEMALE, date(2018, 11, 6)),
        (date(1953, 12, 5), Sex.MALE, date(2018, 12, 5)),  # man: 65th birthday
        (date(1950, 4, 6), Sex.MALE, date(2015, 4, 6)),
        (date(1953, 12, 6), Sex.MALE, date(2019, 3, 6)),
        (date(1954, 10, 5), Sex.FEMALE, date(2020, 9, 6)),
        (date(1954, 10, 6), Sex.MALE, date(2020, 10, 6)),  # 66th birthday
        (date(1960, 4, 5), Sex.FEMALE, date(2026, 4, 5)),
        (date(1960, 4, 6), Sex.FEMALE, date(2026, 5, 6)),  # 66 years and 1 month
        (date(1960, 7, 31), Sex.MALE, date(2026, 11, 30)),  # Act's explicit day
        (date(1960, 12, 31), Sex.FEMALE, date(2027, 9, 30)),
        (date(1961, 1, 31), Sex.FEMALE, date(2027, 11, 30)),
        (date(1961, 3, 5), Sex.FEMALE, date(2028, 2, 5)),  # 66 years and 11 months
        (date(1961, 3, 6), Sex.FEMALE, date(2028, 3, 6)),  # 67th birthday
        (date(1964, 2, 29), Sex.FEMALE, date(2031, 2, 28)),  # leap day: last day of month
        (date(1977, 4, 5), Sex.FEMALE, date(2044, 4, 5)),
        (date(1977, 4, 6), Sex.FEMALE, date(2044, 5, 6)),
        (date(1978, 4, 5), Sex.FEMALE, date(2046, 3, 6)),
        (date(1978, 4, 6), Sex.FEMALE, date(2046, 4, 6)),  # 68th birthday
    ],
)
def test_examples_from_the_gov_uk_timetable(dob: date, sex: Sex, expected: date) -> None:
    assert state_pension_date(dob, sex) == expected


def test_never_goes_backwards_and_never_jumps_a_day_early() -> None:
    """Over every date of birth from 1940 to 1990, a later birth never reaches it earlier."""
    day = date(1940, 1, 1)
    previous = state_pension_date(day)
    while day < date(1990, 1, 1):
        day += timedelta(days=1)
        current = state_pension_date(day)
        assert current >= previous, day
        previous = current


def test_bus_pass_age_is_a_womans_state_pension_age() -> None:
    dob = date(1952, 1, 20)
    assert concessionary_travel_date(dob) == date(2013, 11, 6)
    assert state_pension_date(dob, Sex.MALE) == date(2017, 1, 20)
    later = date(1958, 6, 1)
    assert concessionary_travel_date(later) == state_pension_date(later, Sex.MALE)
