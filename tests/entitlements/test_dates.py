from __future__ import annotations

from datetime import date

import pytest

from entitlements.dates import (
    add_years_months,
    age_on,
    age_on_31_august_before,
    birthday,
    long_date,
    school_year_for,
)


@pytest.mark.parametrize(
    ("start", "years", "months", "expected"),
    [
        (date(1960, 7, 31), 66, 4, date(2026, 11, 30)),  # Pensions Act 2014's own example
        (date(1960, 12, 31), 66, 9, date(2027, 9, 30)),
        (date(1961, 1, 31), 66, 10, date(2027, 11, 30)),
        (date(2000, 2, 29), 1, 0, date(2001, 2, 28)),
        (date(2000, 2, 29), 4, 0, date(2004, 2, 29)),
        (date(2020, 1, 31), 0, 1, date(2020, 2, 29)),
        (date(2020, 11, 15), 0, 3, date(2021, 2, 15)),
    ],
)
def test_add_years_months_clamps_to_month_end(
    start: date, years: int, months: int, expected: date
) -> None:
    assert add_years_months(start, years, months) == expected


def test_age_changes_on_the_birthday_not_before() -> None:
    dob = date(2008, 2, 29)
    assert age_on(dob, date(2026, 2, 27)) == 17
    assert birthday(dob, 18) == date(2026, 2, 28)
    assert age_on(dob, date(2026, 2, 28)) == 18


def test_school_year_cut_off_is_1_september() -> None:
    on = date(2026, 11, 23)  # academic year 2026/27
    assert school_year_for(date(2014, 9, 1), on) == 7
    assert school_year_for(date(2015, 8, 31), on) == 7
    assert school_year_for(date(2015, 9, 1), on) == 6
    assert age_on_31_august_before(on, date(2010, 8, 31)) == 16
    assert age_on_31_august_before(date(2026, 8, 31), date(2010, 8, 31)) == 15


def test_long_date_is_gov_uk_style() -> None:
    assert long_date(date(2027, 5, 6)) == "6 May 2027"
