"""State Pension age, exactly as legislated, and the concessionary travel age it sets.

Sources (the timetables DWP publishes on GOV.UK, "State Pension age timetables"):

- Pensions Act 1995, Schedule 4, Part 1: women's pensionable age rises from 60 to 65 for
  women born on or after 6 April 1950, in steps of two months per month of birth;
- Pensions Act 2011, section 1: speeds that up for women born from 6 April 1953 (steps of
  four months, reaching 65 in November 2018), then raises the age for men and women born
  from 6 December 1953 to 66 by October 2020;
- Pensions Act 2014, section 26: raises it from 66 to 67 for people born from 6 April
  1960 to 5 March 1961, in monthly steps expressed as "66 years and N months", with
  explicit dates for the three birthdays that land on a missing day (31 July 1960,
  31 December 1960, 31 January 1961: the last day of the month);
- Pensions Act 2007, Schedule 3: raises it from 67 to 68 between 2044 and 2046 for people
  born from 6 April 1977 (fixed dates), and 68 for anyone born after 5 April 1978.
  Government reviews have proposed bringing the rise to 68 forward; until Parliament
  changes the Act this table follows the law as it stands.

Concessionary travel (the older person's bus pass, English National Concessionary Travel
Scheme): Transport Act 2000, section 146, as amended by the Pensions Act 2007, defines an
"elderly person" as someone who has reached the pensionable age of a WOMAN born on the
same day. For anyone born on or after 6 December 1953 men and women share one timetable,
so the difference only matters for older men (their own State Pension age was 65, but
their bus pass age is the woman's 60 to 65); this is why the engine never needs sex.

Someone born on 29 February whose State Pension age is a birthday (60, 65, 66, 67 or 68)
in a year without one reaches it on 1 March. That is DWP's rule as GOV.UK's own State
Pension age calculator applies it (alphagov/smart-answers,
``lib/data/state_pension_date_query.rb``: "the calculation should adjust to the 1st March
according to DWP rules") and as DWP's published library does (dwp/get-state-pension-date:
born 29 February 1952, a man, reaches 65 on 1 March 2017). No one born on 29 February falls
in the "66 years and N months" bands (6 April 1960 to 5 March 1961), so the 2014 Act's
last-day-of-the-month rule for 31st birthdays (section 26(3), new paragraph (7A)) is the
only other short-month case.

Verified against (November 2026): the Pensions Act 2011 s.1 text on legislation.gov.uk
(table 1 from 6 April 1953 and table 2), the Pensions Act 2014 s.26 text (table 3 and
paragraph (7A)) and its Explanatory Notes (examples), the first rows of table 1 as printed
in the Northern Ireland twin (SI 1995/3213 Sch. 2), GOV.UK's calculator data
(alphagov/smart-answers ``lib/data/state_pension_dates.yml``: every fixed-date row) and DWP's
library (dwp/get-state-pension-date ``src/spa-data.js``: every row). See
tests/entitlements/test_pension_age.py, which writes the tables out as the Acts print them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, timedelta

from entitlements.dates import add_years_months, birthday


class Sex(enum.Enum):
    """Only needed for a man's own State Pension age before 6 December 1953."""

    FEMALE = "female"
    MALE = "male"


@dataclass(frozen=True)
class FixedDateStep:
    """People born from ``born_from`` to ``born_to`` (inclusive) reach it on ``reaches``."""

    born_from: date
    born_to: date
    reaches: date


@dataclass(frozen=True)
class AgeStep:
    """People born in the band reach it at ``years`` years and ``months`` months."""

    born_from: date
    born_to: date
    years: int
    months: int


def _d(text: str) -> date:
    return date.fromisoformat(text)


def _monthly_bands(first_year: int, first_month: int, count: int) -> list[tuple[date, date]]:
    """``count`` bands "6th of a month to 5th of the next", the shape every table uses."""
    bands = []
    for i in range(count):
        start = add_years_months(date(first_year, first_month, 6), months=i)
        end = add_years_months(date(first_year, first_month, 5), months=i + 1)
        bands.append((start, end))
    return bands


# Pensions Act 1995 Sch. 4 (as amended by the Pensions Act 2011): women born
# 6 April 1950 to 5 December 1953. Each row is (first month of the band, date reached);
# the band runs from the 6th of that month to the 5th of the next.
_WOMEN_1950_1953: tuple[tuple[str, str], ...] = (
    ("1950-04", "2010-05-06"), ("1950-05", "2010-07-06"), ("1950-06", "2010-09-06"),
    ("1950-07", "2010-11-06"), ("1950-08", "2011-01-06"), ("1950-09", "2011-03-06"),
    ("1950-10", "2011-05-06"), ("1950-11", "2011-07-06"), ("1950-12", "2011-09-06"),
    ("1951-01", "2011-11-06"), ("1951-02", "2012-01-06"), ("1951-03", "2012-03-06"),
    ("1951-04", "2012-05-06"), ("1951-05", "2012-07-06"), ("1951-06", "2012-09-06"),
    ("1951-07", "2012-11-06"), ("1951-08", "2013-01-06"), ("1951-09", "2013-03-06"),
    ("1951-10", "2013-05-06"), ("1951-11", "2013-07-06"), ("1951-12", "2013-09-06"),
    ("1952-01", "2013-11-06"), ("1952-02", "2014-01-06"), ("1952-03", "2014-03-06"),
    ("1952-04", "2014-05-06"), ("1952-05", "2014-07-06"), ("1952-06", "2014-09-06"),
    ("1952-07", "2014-11-06"), ("1952-08", "2015-01-06"), ("1952-09", "2015-03-06"),
    ("1952-10", "2015-05-06"), ("1952-11", "2015-07-06"), ("1952-12", "2015-09-06"),
    ("1953-01", "2015-11-06"), ("1953-02", "2016-01-06"), ("1953-03", "2016-03-06"),
    # Pensions Act 2011: four-month steps from here.
    ("1953-04", "2016-07-06"), ("1953-05", "2016-11-06"), ("1953-06", "2017-03-06"),
    ("1953-07", "2017-07-06"), ("1953-08", "2017-11-06"), ("1953-09", "2018-03-06"),
    ("1953-10", "2018-07-06"), ("1953-11", "2018-11-06"),
)  # fmt: skip

# Pensions Act 2011 s.1: men and women born 6 December 1953 to 5 October 1954.
_BOTH_1953_1954: tuple[tuple[str, str], ...] = (
    ("1953-12", "2019-03-06"), ("1954-01", "2019-05-06"), ("1954-02", "2019-07-06"),
    ("1954-03", "2019-09-06"), ("1954-04", "2019-11-06"), ("1954-05", "2020-01-06"),
    ("1954-06", "2020-03-06"), ("1954-07", "2020-05-06"), ("1954-08", "2020-07-06"),
    ("1954-09", "2020-09-06"),
)  # fmt: skip

# Pensions Act 2007 Sch. 3: born 6 April 1977 to 5 April 1978, rise from 67 to 68.
_BOTH_1977_1978: tuple[tuple[str, str], ...] = (
    ("1977-04", "2044-05-06"), ("1977-05", "2044-07-06"), ("1977-06", "2044-09-06"),
    ("1977-07", "2044-11-06"), ("1977-08", "2045-01-06"), ("1977-09", "2045-03-06"),
    ("1977-10", "2045-05-06"), ("1977-11", "2045-07-06"), ("1977-12", "2045-09-06"),
    ("1978-01", "2045-11-06"), ("1978-02", "2046-01-06"), ("1978-03", "2046-03-06"),
)  # fmt: skip


def _fixed(rows: tuple[tuple[str, str], ...]) -> tuple[FixedDateStep, ...]:
    steps = []
    for first_month, reaches in rows:
        year, month = (int(part) for part in first_month.split("-"))
        ((start, end),) = _monthly_bands(year, month, 1)
        steps.append(FixedDateStep(start, end, _d(reaches)))
    return tuple(steps)


WOMEN_1950_TO_1953 = _fixed(_WOMEN_1950_1953)
BOTH_1953_TO_1954 = _fixed(_BOTH_1953_1954)
BOTH_1977_TO_1978 = _fixed(_BOTH_1977_1978)

# Pensions Act 2014 s.26: born 6 April 1960 to 5 March 1961, 66 years and 1 to 11 months.
BOTH_1960_TO_1961 = tuple(
    AgeStep(start, end, 66, n)
    for n, (start, end) in enumerate(_monthly_bands(1960, 4, 11), start=1)
)

WOMEN_AGE_60_BORN_BEFORE = _d("1950-04-06")
MEN_AGE_65_BORN_BEFORE = _d("1953-12-06")
AGE_66_BORN_FROM = _d("1954-10-06")
AGE_67_BORN_FROM = _d("1961-03-06")
AGE_68_BORN_FROM = _d("1978-04-06")


def _pension_birthday(dob: date, age: int) -> date:
    """The birthday on which State Pension age is an age in whole years.

    Born on 29 February: 1 March in a year without a 29 February (DWP's rule, above).
    """
    day = birthday(dob, age)
    if (dob.month, dob.day) == (2, 29) and day.day == 28:
        return day + timedelta(days=1)
    return day


def _in_table(dob: date, steps: tuple[FixedDateStep, ...]) -> date | None:
    for step in steps:
        if step.born_from <= dob <= step.born_to:
            return step.reaches
    return None


def state_pension_date(date_of_birth: date, sex: Sex = Sex.FEMALE) -> date:
    """The day someone reaches State Pension age, to the day, for any date of birth."""
    dob = date_of_birth
    if sex is Sex.MALE and dob < MEN_AGE_65_BORN_BEFORE:
        return _pension_birthday(dob, 65)
    if dob < WOMEN_AGE_60_BORN_BEFORE:
        return _pension_birthday(dob, 60)
    if dob < MEN_AGE_65_BORN_BEFORE:
        reached = _in_table(dob, WOMEN_1950_TO_1953)
        assert reached is not None, "the 1950-1953 table covers every day"
        return reached
    if dob < AGE_66_BORN_FROM:
        reached = _in_table(dob, BOTH_1953_TO_1954)
        assert reached is not None, "the 1953-1954 table covers every day"
        return reached
    if dob < BOTH_1960_TO_1961[0].born_from:
        return _pension_birthday(dob, 66)
    if dob < AGE_67_BORN_FROM:
        for step in BOTH_1960_TO_1961:
            if step.born_from <= dob <= step.born_to:
                return add_years_months(dob, step.years, step.months)
        raise AssertionError("the 1960-1961 table covers every day")
    if dob < BOTH_1977_TO_1978[0].born_from:
        return _pension_birthday(dob, 67)
    if dob < AGE_68_BORN_FROM:
        reached = _in_table(dob, BOTH_1977_TO_1978)
        assert reached is not None, "the 1977-1978 table covers every day"
        return reached
    return _pension_birthday(dob, 68)


def concessionary_travel_date(date_of_birth: date) -> date:
    """When the older person's bus pass age is reached: a woman's State Pension age."""
    return state_pension_date(date_of_birth, Sex.FEMALE)
