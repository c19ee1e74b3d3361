"""Random histories of one resident's facts, for the property test of issue 11.

A history is a resident (a date of birth, a Kent postcode) and a list of steps, each some
days after the one before: a move (online, at a Gateway or from a registrar's feed), a
corrected date of birth, a document or assessment staff record, an application for a
service (online or at a Gateway, answering the questions the journey asks), staff
approving waiting requests, or a registrar's "moved out of Kent". Every step goes through
the same service function the pages and the command line use, decided as on the step's
day (:func:`idservice.services.reevaluation.as_of`). The daily sweep runs once for each
day a step falls on, before the step (as the nightly job would; it catches up the days in
between), and once more on the final day.

The whole history lies in the past, ending on or before today, because the registrar's
feed takes only what has happened (a change of address dated today or earlier, a move
out of Kent within the last six years) and life events compare with today's date.
:func:`tests.services.replay_history.replay` plays a history and returns what each step
left for the property test to judge.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from hypothesis import strategies as st

from entitlements.catalogue import Service
from entitlements.dates import academic_year_start
from entitlements.facts import (
    Disability,
    DisabilityCategory,
    FactName,
    FactValue,
    QualifyingAward,
    SchoolYear,
)
from idservice.services import add_service

CATALOGUE: tuple[Service, ...] = tuple(add_service.catalogue())
CODES = tuple(s.code for s in CATALOGUE)

#: Postcodes the built-in gazetteer knows, with a town for the address form.
KENT = {
    "ME14 1XQ": "Maidstone",
    "CT9 1AA": "Margate",
    "TN23 1AA": "Ashford",
    "DA11 0AA": "Gravesend",
}
ELSEWHERE = {
    "ME4 4AA": "Chatham",  # Medway: England, not Kent
    "BN1 1AA": "Brighton",  # East Sussex / Brighton and Hove
    "TN6 1AA": "Crowborough",  # Wealden, East Sussex
    "SE1 7PB": "London",
    "EH1 1YZ": "Edinburgh",  # Scotland: no grace for a bus pass
    "CF10 1AA": "Cardiff",  # Wales
    "DA1 1AA": "Dartford",  # straddles Kent and Bexley: needs proof of address
    "TN17 1AA": "Cranbrook",  # left out of the table on purpose: unknown postcode
}
TOWNS = {**KENT, **ELSEWHERE}

#: A registrar may tell us of a move up to six years late; the history fits inside that.
SPAN_DAYS = 6 * 365 - 60


# --- the steps ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Move:
    postcode: str
    by: str  # resident (online), staff (at a Gateway) or registrar (a change of address)


@dataclass(frozen=True)
class CorrectBirth:
    """Staff correct the date of birth to make the resident ``age_days`` old that day."""

    age_days: int


@dataclass(frozen=True)
class Document:
    """Staff record what a document or a check they saw proves (a checked fact or better).

    ``what``: passport (the record's date of birth), council-tax-bill (the record's
    address), lives-in-kent, disability, education, school-year, companion, blue-badge,
    award. ``value`` and ``days`` (how long it lasts) where the kind has them.
    """

    what: str
    value: Any = None
    days: int | None = None


@dataclass(frozen=True)
class Answers:
    """What the resident answers if the journey asks (None: "none of these")."""

    works_in_kent: bool | None = None
    studies_in_kent: bool | None = None
    parental_consent: bool | None = None
    school_year: int | None = None
    full_time_education: bool | None = None
    disability: DisabilityCategory | None = None
    needs_companion: bool | None = None
    qualifying_award: QualifyingAward | None = None

    def value(self, name: FactName, on: date) -> FactValue | None:
        raw = getattr(self, name.value)
        if raw is None:
            return None
        if name is FactName.SCHOOL_YEAR:
            return SchoolYear(raw, academic_year_start(on))
        if name is FactName.DISABILITY:
            return Disability(raw, "what the resident told us")
        assert isinstance(raw, bool | QualifyingAward)
        return raw


@dataclass(frozen=True)
class Apply:
    service: str
    by_staff: bool
    answers: Answers = Answers()


@dataclass(frozen=True)
class GatewayVisit:
    """At a Gateway: staff see a passport, a Council Tax bill (the record's date of birth
    and address, checked) and ``documents``, then the resident applies for ``then``."""

    documents: tuple[Document, ...]
    then: Apply


@dataclass(frozen=True)
class Approve:
    """Staff try to approve every waiting request (refused when the facts fall short)."""


@dataclass(frozen=True)
class MoveOut:
    """A registrar's "moved out of Kent", dated the step's day."""


Action = Move | CorrectBirth | Document | Apply | GatewayVisit | Approve | MoveOut


@dataclass(frozen=True)
class Step:
    after_days: int
    action: Action


@dataclass(frozen=True)
class History:
    age_days: int  # the resident's age on the first day
    postcode: str
    email: bool
    steps: tuple[Step, ...]
    final_days: int  # days from the last step to the final date
    days_before_today: int  # the final date is this many days before today

    def days(self) -> tuple[date, list[date], date]:
        """The first day, each step's day and the final day, all in the past."""
        span = sum(s.after_days for s in self.steps) + self.final_days
        first = date.today() - timedelta(days=self.days_before_today + span)
        on, days = first, []
        for step in self.steps:
            on += timedelta(days=step.after_days)
            days.append(on)
        return first, days, on + timedelta(days=self.final_days)


# --- the strategy -----------------------------------------------------------------------------

_YEAR = 365


def _age_days(years: st.SearchStrategy[int]) -> st.SearchStrategy[int]:
    return st.builds(lambda y, d: y * _YEAR + d, years, st.integers(0, _YEAR - 1))


#: Ages from 5 to 95, often around the rules' thresholds (school years 7 to 11 and 16 to
#: 19, 18, 25, 60 and State Pension age). ``sampled_from`` draws evenly; ``integers``
#: would favour the youngest.
_AGES = st.one_of(
    _age_days(st.sampled_from(range(5, 96))),
    _age_days(st.sampled_from(range(10, 21))),
    _age_days(st.sampled_from((17, 18, 24, 25))),
    _age_days(st.sampled_from(range(58, 68))),
)
_DOCUMENTS = st.one_of(
    st.builds(Document, st.just("passport")),
    st.builds(Document, st.just("council-tax-bill")),
    st.builds(Document, st.just("lives-in-kent"), st.booleans()),
    st.builds(
        Document, st.just("disability"), st.sampled_from(DisabilityCategory), st.integers(1, 1500)
    ),
    st.builds(Document, st.just("education"), st.booleans()),
    st.builds(Document, st.just("school-year"), st.integers(5, 13)),
    st.builds(Document, st.just("companion"), st.booleans()),
    st.builds(Document, st.just("blue-badge"), st.booleans(), st.integers(1, 3 * _YEAR)),
    st.builds(Document, st.just("award"), st.sampled_from(QualifyingAward)),
)
_ANSWERS = st.builds(
    Answers,
    st.none() | st.booleans(),
    st.none() | st.booleans(),
    st.none() | st.booleans(),
    st.none() | st.integers(5, 13),
    st.none() | st.booleans(),
    st.none() | st.sampled_from(DisabilityCategory),
    st.none() | st.booleans(),
    st.none() | st.sampled_from(QualifyingAward),
)
#: The services someone of an age can usually get: applications favour them.
_FOR_AGE = (
    (range(0, 16), ("library", "kent-travel-saver", "partner-young-person-leisure")),
    (range(16, 20), ("16-plus-travel-saver", "library", "proof-of-age-18")),
    (range(20, 58), ("partner-young-person-leisure", "proof-of-age-18", "bus-pass-disabled")),
    (range(58, 200), ("bus-pass-older", "partner-leisure-60-plus", "bus-pass-companion")),
)
_PLACES = st.one_of(st.sampled_from(sorted(KENT)), st.sampled_from(sorted(ELSEWHERE)))


def _actions(years: int) -> st.SearchStrategy[Action]:
    """One action a step, weighted by repeating its kind; applications favour the
    services of the resident's first age."""
    likely = next(codes for ages, codes in _FOR_AGE if years in ages)
    apply = st.builds(
        Apply, st.sampled_from(CODES) | st.sampled_from(likely), st.booleans(), _ANSWERS
    )
    kinds: dict[str, st.SearchStrategy[Action]] = {
        "apply": apply,
        "gateway": st.builds(GatewayVisit, st.lists(_DOCUMENTS, max_size=2).map(tuple), apply),
        "approve": st.just(Approve()),
        "document": _DOCUMENTS,
        "move": st.builds(Move, _PLACES, st.sampled_from(["resident", "staff", "registrar"])),
        "birth": st.builds(CorrectBirth, _AGES),
        "move-out": st.just(MoveOut()),
    }
    weighted = ["apply"] * 6 + ["gateway"] * 4 + ["approve"] * 3 + ["document"] * 3
    weighted += ["move"] * 4 + ["birth"] * 2 + ["move-out"]
    return st.sampled_from(weighted).flatmap(kinds.__getitem__)


#: Days between steps: often the same day or soon after, sometimes most of a year.
_GAPS = st.one_of(st.just(0), st.integers(0, 60), st.integers(0, 400))


@st.composite
def histories(draw: st.DrawFn, max_steps: int = 12) -> History:
    """A resident and 4 to ``max_steps`` steps, the whole span within :data:`SPAN_DAYS`."""
    age_days = draw(_AGES)
    steps = st.builds(Step, _GAPS, _actions(age_days // _YEAR))
    kept: list[Step] = []
    span = 0
    for step in draw(st.lists(steps, min_size=4, max_size=max_steps)):
        if span + step.after_days > SPAN_DAYS:
            break
        kept.append(step)
        span += step.after_days
    final_days = draw(st.integers(0, min(400, SPAN_DAYS - span)))
    return History(
        age_days=age_days,
        postcode=draw(st.sampled_from(sorted(KENT))),
        email=draw(st.booleans()),
        steps=tuple(kept),
        final_days=final_days,
        days_before_today=draw(st.integers(0, SPAN_DAYS - span - final_days)),
    )
