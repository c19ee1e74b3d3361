"""Calendar arithmetic the rules depend on: ages, month steps and academic years.

Kept in one place because every rule that says "reaches 66 years and 4 months" or "valid
for the academic year" must agree to the day.
"""

from __future__ import annotations

import calendar
from datetime import date

ACADEMIC_YEAR_START_MONTH = 9  # English school years run 1 September to 31 August.


def add_years_months(start: date, years: int = 0, months: int = 0) -> date:
    """The date ``years`` and ``months`` after ``start``.

    When the target month is too short (31 July + 4 months, 29 February + 1 year) the
    answer is the last day of that month. The Pensions Act 2014 spells this out for the
    people it affects (someone born on 31 July 1960 reaches 66 years and 4 months on
    30 November 2026), and the same rule is used everywhere for consistency.
    """
    total = start.year * 12 + (start.month - 1) + years * 12 + months
    year, month0 = divmod(total, 12)
    last_day = calendar.monthrange(year, month0 + 1)[1]
    return date(year, month0 + 1, min(start.day, last_day))


def birthday(date_of_birth: date, age: int) -> date:
    """The day on which someone born on ``date_of_birth`` reaches ``age`` years."""
    return add_years_months(date_of_birth, years=age)


def age_on(date_of_birth: date, on: date) -> int:
    """Age in whole years on ``on`` (consistent with :func:`birthday`)."""
    age = on.year - date_of_birth.year
    if birthday(date_of_birth, age) > on:
        age -= 1
    return age


def academic_year_start(on: date) -> int:
    """The calendar year in which the academic year containing ``on`` began."""
    return on.year if on.month >= ACADEMIC_YEAR_START_MONTH else on.year - 1


def academic_year_bounds(start_year: int) -> tuple[date, date]:
    """First and last day (1 September, 31 August) of the academic year starting then."""
    return date(start_year, ACADEMIC_YEAR_START_MONTH, 1), date(start_year + 1, 8, 31)


def age_on_31_august_before(on: date, date_of_birth: date) -> int:
    """Age on the 31 August before the academic year containing ``on``.

    School year groups and the 16+ Travel Saver are decided by this age, so that all
    children born between 1 September and the next 31 August are in the same year.
    """
    return age_on(date_of_birth, date(academic_year_start(on), 8, 31))


def school_year_for(date_of_birth: date, on: date) -> int:
    """The usual school year group (Reception = 0, Year 7 = 7) on ``on``.

    Children start Reception in the September after they turn 4, so the year group is
    the age on the 31 August before the academic year, minus 4.
    """
    return age_on_31_august_before(on, date_of_birth) - 4


def long_date(value: date) -> str:
    """A date as GOV.UK writes it: 6 May 2027."""
    return f"{value.day} {calendar.month_name[value.month]} {value.year}"
