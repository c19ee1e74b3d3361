"""Facts: a resident's verified attributes, recorded once and reused by every service.

Each fact carries where it came from and how well it was checked, so a service can say
"we already know this" or "we need to see proof of this" without asking twice.
Plain frozen dataclasses: no database, no Flask; storage is a separate concern.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime


class FactName(enum.Enum):
    """Every kind of fact the catalogue's rules may ask for."""

    DATE_OF_BIRTH = "date_of_birth"
    ADDRESS = "address"
    LIVES_IN_KENT = "lives_in_kent"
    WORKS_IN_KENT = "works_in_kent"
    STUDIES_IN_KENT = "studies_in_kent"
    SCHOOL_YEAR = "school_year"
    FULL_TIME_EDUCATION = "full_time_education"
    DISABILITY = "disability"
    BLUE_BADGE_DECISION = "blue_badge_decision"
    QUALIFYING_AWARD = "qualifying_award"
    PARENTAL_CONSENT = "parental_consent"
    NEEDS_COMPANION = "needs_companion"


FACT_DESCRIPTIONS: Mapping[FactName, str] = {
    FactName.DATE_OF_BIRTH: "your date of birth",
    FactName.ADDRESS: "your home address and postcode",
    FactName.LIVES_IN_KENT: "whether you live in Kent",
    FactName.WORKS_IN_KENT: "whether you work in Kent",
    FactName.STUDIES_IN_KENT: "whether you study in Kent",
    FactName.SCHOOL_YEAR: "your school year",
    FactName.FULL_TIME_EDUCATION: "whether you are in full-time education or training",
    FactName.DISABILITY: "your disability and the evidence for it",
    FactName.BLUE_BADGE_DECISION: "the council's Blue Badge decision",
    FactName.QUALIFYING_AWARD: "a benefit or award that qualifies you automatically",
    FactName.PARENTAL_CONSENT: "consent from a parent or guardian",
    FactName.NEEDS_COMPANION: "whether you need someone with you to travel",
}


class Source(enum.Enum):
    """Where a fact came from."""

    SELF_DECLARED = "self-declared"
    STAFF_SEEN_DOCUMENT = "document seen by staff"
    TRUSTED_PARTNER = "trusted partner"  # e.g. the Post Office
    GOVERNMENT_DEPARTMENT = "government department"  # e.g. DWP, HM Passport Office
    COUNCIL_DECISION = "council decision"  # e.g. a Blue Badge assessment


class VerificationLevel(enum.IntEnum):
    """How well a fact was checked; a service names the lowest level it accepts."""

    DECLARED = 1  # the resident told us
    CHECKED = 2  # a document seen by trained staff or a trusted partner
    VERIFIED = 3  # confirmed with the body that issued it

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> VerificationLevel:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            names = ", ".join(level.label for level in cls)
            raise ValueError(f"unknown evidence level {text!r}; use one of {names}") from None


class DisabilityCategory(enum.Enum):
    """The seven categories of Transport Act 2000, section 146 ("eligible disabled person")."""

    BLIND_OR_PARTIALLY_SIGHTED = "a"
    PROFOUNDLY_OR_SEVERELY_DEAF = "b"
    WITHOUT_SPEECH = "c"
    WALKING = "d"  # substantial and long-term adverse effect on ability to walk
    ARMS = "e"  # no arms, or long-term loss of the use of both arms
    LEARNING_DISABILITY = "f"
    REFUSED_DRIVING_LICENCE = "g"  # would be refused under Road Traffic Act 1988 s.92


class QualifyingAward(enum.Enum):
    """Awards that make someone eligible for a Blue Badge without further assessment."""

    PIP_MOVING_AROUND_8 = "pip_moving_around_8"  # PIP: 8+ points, moving around
    PIP_PLANNING_JOURNEYS_12E = "pip_planning_journeys_12e"  # PIP: 10 points, descriptor E
    DLA_HIGHER_RATE_MOBILITY = "dla_higher_rate_mobility"
    SEVERELY_SIGHT_IMPAIRED = "severely_sight_impaired"  # registered blind
    WAR_PENSIONERS_MOBILITY_SUPPLEMENT = "war_pensioners_mobility_supplement"
    AFCS_TARIFF_1_TO_8 = "afcs_tariff_1_to_8"  # with permanent, substantial walking difficulty


@dataclass(frozen=True)
class Address:
    postcode: str
    uprn: str | None = None


@dataclass(frozen=True)
class SchoolYear:
    """A year group in a given academic year (which began in September ``academic_year``)."""

    year_group: int
    academic_year: int

    def in_academic_year(self, academic_year: int) -> int:
        return self.year_group + (academic_year - self.academic_year)


@dataclass(frozen=True)
class Disability:
    category: DisabilityCategory
    evidence: str  # what was seen, e.g. "certificate of vision impairment"


@dataclass(frozen=True)
class BlueBadgeDecision:
    approved: bool
    decided_on: date
    expires_on: date | None = None


FactValue = (
    bool | int | date | Address | SchoolYear | Disability | BlueBadgeDecision | QualifyingAward
)

VALUE_TYPES: Mapping[FactName, type | tuple[type, ...]] = {
    FactName.DATE_OF_BIRTH: date,
    FactName.ADDRESS: Address,
    FactName.LIVES_IN_KENT: bool,
    FactName.WORKS_IN_KENT: bool,
    FactName.STUDIES_IN_KENT: bool,
    FactName.SCHOOL_YEAR: SchoolYear,
    FactName.FULL_TIME_EDUCATION: bool,
    FactName.DISABILITY: Disability,
    FactName.BLUE_BADGE_DECISION: BlueBadgeDecision,
    FactName.QUALIFYING_AWARD: QualifyingAward,
    FactName.PARENTAL_CONSENT: bool,
    FactName.NEEDS_COMPANION: bool,
}


@dataclass(frozen=True)
class Provenance:
    """Who recorded a fact, from what, how well checked, and until when it holds."""

    source: Source
    level: VerificationLevel
    recorded_by: str
    recorded_at: datetime
    expires_on: date | None = None
    #: Where the fact is stored (``fact:123``), so a grant can cite the facts it relied
    #: on without copying them; None for facts that are not stored (the command line).
    reference: str | None = None


@dataclass(frozen=True)
class Fact:
    name: FactName
    value: FactValue
    provenance: Provenance

    def __post_init__(self) -> None:
        expected = VALUE_TYPES[self.name]
        # bool is an int in Python; a school year or date must never be a bare bool.
        if not isinstance(self.value, expected) or (
            isinstance(self.value, bool) and expected is not bool
        ):
            raise TypeError(f"{self.name.value} must be {expected}, not {type(self.value)}")

    def current_on(self, on: date) -> bool:
        expiry = self.provenance.expires_on
        return expiry is None or on <= expiry


@dataclass(frozen=True)
class FactSet:
    """The facts held about one resident; the newest current fact of each name wins."""

    facts: tuple[Fact, ...] = field(default_factory=tuple)

    @classmethod
    def of(cls, facts: Iterable[Fact]) -> FactSet:
        return cls(tuple(facts))

    def get(self, name: FactName, on: date) -> Fact | None:
        current = [f for f in self.facts if f.name is name and f.current_on(on)]
        if not current:
            return None
        return max(current, key=lambda f: f.provenance.recorded_at)

    def __iter__(self) -> Iterator[Fact]:
        return iter(self.facts)
