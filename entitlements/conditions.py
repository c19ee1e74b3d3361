"""The conditions a catalogue rule can be built from, each explaining itself in words.

A service in ``data/services.toml`` lists conditions by name (``test = "lives-in-kent"``)
with parameters; this module is the only place those names are given meaning. Adding a
condition here is a code change; combining existing ones into a new service is not.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from entitlements.dates import (
    academic_year_bounds,
    academic_year_start,
    age_on,
    age_on_31_august_before,
    birthday,
    long_date,
    school_year_for,
)
from entitlements.facts import (
    Address,
    BlueBadgeDecision,
    Disability,
    DisabilityCategory,
    Fact,
    FactName,
    FactSet,
    QualifyingAward,
    SchoolYear,
)
from entitlements.gazetteer import Gazetteer, Postcode, PostcodeError, Residency
from entitlements.pension_age import concessionary_travel_date
from entitlements.results import Check, Need


@dataclass(frozen=True)
class Context:
    facts: FactSet
    on: date
    gazetteer: Gazetteer
    hide_date_of_birth: bool = False  # proof of age must not reveal the birthday

    def fact(self, name: FactName) -> Fact | None:
        return self.facts.get(name, self.on)


Params = Mapping[str, Any]
Evaluate = Callable[[Context, Params], Check]


@dataclass(frozen=True)
class ConditionType:
    """A named condition: how to evaluate it and which parameters it takes."""

    evaluate: Evaluate
    params: Mapping[str, type]


def _need(name: FactName, why: str) -> Check:
    return Check(None, why, needs=(Need(name, why),))


def _date_of_birth(ctx: Context) -> tuple[Fact, date] | None:
    fact = ctx.fact(FactName.DATE_OF_BIRTH)
    if fact is None:
        return None
    assert isinstance(fact.value, date)
    return fact, fact.value


def lives_in_kent(ctx: Context, params: Params) -> Check:
    """From a recorded residency fact, or else the address through the gazetteer."""
    fact = ctx.fact(FactName.LIVES_IN_KENT)
    if fact is not None:
        if fact.value:
            return Check(True, "You live in Kent.", used=(fact,))
        return Check(False, "You do not live in Kent.", used=(fact,))
    address = ctx.fact(FactName.ADDRESS)
    if address is None:
        return _need(FactName.ADDRESS, "We need your address to check that you live in Kent.")
    assert isinstance(address.value, Address)
    try:
        postcode = Postcode.parse(address.value.postcode)
    except PostcodeError:
        return _need(FactName.ADDRESS, "We need your full postcode to check where you live.")
    lookup = ctx.gazetteer.lookup(postcode)
    residency = lookup.residency
    if residency is Residency.IN_KENT:
        where = " or ".join(lookup.authority_names)
        return Check(True, f"Your postcode {postcode} is in Kent ({where}).", used=(address,))
    if residency is Residency.NOT_IN_KENT:
        where = " or ".join(lookup.authority_names)
        apply_to = f"{lookup.council} council" if lookup.council else "the council for that address"
        return Check(
            False,
            f"Your postcode {postcode} is not in Kent: it is in {where}, which has its own "
            f"council. Apply to {apply_to} instead.",
            used=(address,),
        )
    if residency is Residency.NEEDS_EVIDENCE:
        where = " / ".join(lookup.authority_names)
        return _need(
            FactName.ADDRESS,
            f"Part of the {postcode.district} postcode area is in Kent and part is not "
            f"({where}). We need your full postcode or proof of address to know whether you "
            "live in Kent.",
        )
    return _need(
        FactName.ADDRESS,
        f"We could not find the postcode {postcode}. We need proof of your address.",
    )


def _yes_fact(ctx: Context, name: FactName, yes: str, no: str) -> Check:
    fact = ctx.fact(name)
    if fact is None:
        return Check(None, "")
    return Check(bool(fact.value), yes if fact.value else no, used=(fact,))


def lives_works_or_studies_in_kent(ctx: Context, params: Params) -> Check:
    checks = [
        lives_in_kent(ctx, params),
        _yes_fact(ctx, FactName.WORKS_IN_KENT, "You work in Kent.", "You do not work in Kent."),
        _yes_fact(ctx, FactName.STUDIES_IN_KENT, "You study in Kent.", "You do not study in Kent."),
    ]
    for check in checks:
        if check.passed:
            return check
    if all(check.passed is False for check in checks):
        return Check(False, "You do not live, work or study in Kent.", used=())
    needs = checks[0].needs
    if checks[0].passed is False:
        # Living outside Kent: ask about work and study, not for the address again.
        unknown = (
            (checks[1], FactName.WORKS_IN_KENT, "We need to know whether you work in Kent."),
            (checks[2], FactName.STUDIES_IN_KENT, "We need to know whether you study in Kent."),
        )
        needs = tuple(Need(name, why) for check, name, why in unknown if check.passed is None)
    return Check(
        None,
        "We need to know that you live, work or study in Kent.",
        needs=needs
        or (Need(FactName.ADDRESS, "We need your address to check that you live in Kent."),),
    )


def reached_bus_pass_age(ctx: Context, params: Params) -> Check:
    held = _date_of_birth(ctx)
    if held is None:
        return _need(FactName.DATE_OF_BIRTH, "We need your date of birth to work out your age.")
    fact, dob = held
    reaches = concessionary_travel_date(dob)
    if ctx.on >= reaches:
        return Check(
            True,
            f"You reached the age for an older person's bus pass on {long_date(reaches)} "
            "(State Pension age for a woman born on your date of birth).",
            used=(fact,),
        )
    return Check(
        False,
        f"You can get an older person's bus pass from {long_date(reaches)}, when you reach "
        "State Pension age (for a woman born on your date of birth, whatever your sex).",
        used=(fact,),
        from_date=reaches,
    )


def age_at_least(ctx: Context, params: Params) -> Check:
    years = int(params["years"])
    held = _date_of_birth(ctx)
    if held is None:
        return _need(
            FactName.DATE_OF_BIRTH, f"We need your date of birth to check you are {years} or over."
        )
    fact, dob = held
    reaches = birthday(dob, years)
    if ctx.on >= reaches:
        return Check(True, f"You are {years} or over.", used=(fact,))
    if ctx.hide_date_of_birth:
        return Check(False, f"You are under {years}.", used=(fact,))
    return Check(
        False,
        f"You must be {years} or over. You will be {years} on {long_date(reaches)}.",
        used=(fact,),
        from_date=reaches,
    )


def age_under(ctx: Context, params: Params) -> Check:
    years = int(params["years"])
    held = _date_of_birth(ctx)
    if held is None:
        return _need(
            FactName.DATE_OF_BIRTH, f"We need your date of birth to check you are under {years}."
        )
    fact, dob = held
    reaches = birthday(dob, years)
    if ctx.on < reaches:
        return Check(True, f"You are under {years}.", used=(fact,), until=reaches - timedelta(1))
    return Check(False, f"This is only for people under {years}.", used=(fact,))


def consent_if_under(ctx: Context, params: Params) -> Check:
    years = int(params["years"])
    held = _date_of_birth(ctx)
    if held is None:
        return _need(
            FactName.DATE_OF_BIRTH,
            f"We need your date of birth: under-{years}s need a parent or guardian's consent.",
        )
    fact, dob = held
    if age_on(dob, ctx.on) >= years:
        return Check(
            True, f"You are {years} or over, so you do not need anyone's consent.", used=(fact,)
        )
    consent = ctx.fact(FactName.PARENTAL_CONSENT)
    if consent is None:
        return _need(
            FactName.PARENTAL_CONSENT,
            f"You are under {years}, so a parent or guardian needs to give their consent.",
        )
    if consent.value:
        return Check(True, "A parent or guardian has given their consent.", used=(fact, consent))
    return Check(False, "A parent or guardian has not given their consent.", used=(fact, consent))


def _year_label(year: int) -> str:
    if year < 0:
        return "not yet at school"
    if year == 0:
        return "in Reception"
    return f"in Year {year}" if year <= 14 else "past school age"


def school_year_between(ctx: Context, params: Params) -> Check:
    low, high = int(params["from"]), int(params["to"])
    academic = academic_year_start(ctx.on)
    end_of_year = academic_year_bounds(academic)[1]
    recorded = ctx.fact(FactName.SCHOOL_YEAR)
    if recorded is not None:
        assert isinstance(recorded.value, SchoolYear)
        year, used, how = recorded.value.in_academic_year(academic), (recorded,), "You are"
    else:
        held = _date_of_birth(ctx)
        if held is None:
            return _need(FactName.SCHOOL_YEAR, "We need your school year (or date of birth).")
        fact, dob = held
        year, used = school_year_for(dob, ctx.on), (fact,)
        how = "From your date of birth, you are"
    label = _year_label(year)
    if low <= year <= high:
        return Check(
            True,
            f"{how} {label} this school year, which ends on {long_date(end_of_year)}.",
            used=used,
            until=end_of_year,
        )
    if year < low:
        start = academic_year_bounds(academic + (low - year))[0]
        return Check(
            False,
            f"{how} {label}. This is for school years {low} to {high}; you can apply for "
            f"the school year starting {long_date(start)}.",
            used=used,
            from_date=start,
        )
    return Check(False, f"{how} {label}. This is only for school years {low} to {high}.", used=used)


def age_on_31_august_between(ctx: Context, params: Params) -> Check:
    low, high = int(params["min"]), int(params["max"])
    held = _date_of_birth(ctx)
    if held is None:
        return _need(FactName.DATE_OF_BIRTH, "We need your date of birth to check your age.")
    fact, dob = held
    academic = academic_year_start(ctx.on)
    age = age_on_31_august_before(ctx.on, dob)
    cut_off = long_date(date(academic, 8, 31))
    if low <= age <= high:
        return Check(
            True,
            f"You were {age} on {cut_off}, so you are in the {low} to {high} age group this "
            "school year.",
            used=(fact,),
            until=academic_year_bounds(academic)[1],
        )
    if age < low:
        start = academic_year_bounds(academic + (low - age))[0]
        return Check(
            False,
            f"You were {age} on {cut_off}. This is for people aged {low} to {high} on the 31 "
            f"August before the school year; you can apply from {long_date(start)}.",
            used=(fact,),
            from_date=start,
        )
    return Check(
        False,
        f"You were {age} on {cut_off}; this is only for people aged {low} to {high}.",
        used=(fact,),
    )


def in_full_time_education(ctx: Context, params: Params) -> Check:
    fact = ctx.fact(FactName.FULL_TIME_EDUCATION)
    if fact is None:
        return _need(
            FactName.FULL_TIME_EDUCATION,
            "We need to know that you are in full-time education or training.",
        )
    if fact.value:
        return Check(True, "You are in full-time education or training.", used=(fact,))
    return Check(False, "You are not in full-time education or training.", used=(fact,))


CATEGORY_WORDS: Mapping[DisabilityCategory, str] = {
    DisabilityCategory.BLIND_OR_PARTIALLY_SIGHTED: "you are blind or partially sighted",
    DisabilityCategory.PROFOUNDLY_OR_SEVERELY_DEAF: "you are profoundly or severely deaf",
    DisabilityCategory.WITHOUT_SPEECH: "you are without speech",
    DisabilityCategory.WALKING: (
        "a disability or injury seriously affects your walking for the long term"
    ),
    DisabilityCategory.ARMS: "you do not have arms, or have long-term loss of the use of both arms",
    DisabilityCategory.LEARNING_DISABILITY: "you have a learning disability",
    DisabilityCategory.REFUSED_DRIVING_LICENCE: (
        "you would be refused a driving licence on medical grounds (not drugs or alcohol)"
    ),
}


def statutory_disability(ctx: Context, params: Params) -> Check:
    evidence: Mapping[str, str] = params["evidence"]
    fact = ctx.fact(FactName.DISABILITY)
    if fact is None:
        options = "; ".join(
            f"{CATEGORY_WORDS[c]} ({evidence[c.value]})" for c in DisabilityCategory
        )
        why = (
            "We need to know which of the seven eligible disabilities you have, with "
            f"evidence. They are: {options}."
        )
        return Check(
            None,
            "We need to know which eligible disability you have.",
            needs=(Need(FactName.DISABILITY, why),),
        )
    assert isinstance(fact.value, Disability)
    category = fact.value.category
    return Check(
        True,
        f"You are eligible because {CATEGORY_WORDS[category]} "
        f"(evidence needed: {evidence[category.value]}).",
        used=(fact,),
    )


def needs_companion(ctx: Context, params: Params) -> Check:
    fact = ctx.fact(FactName.NEEDS_COMPANION)
    if fact is None:
        return _need(
            FactName.NEEDS_COMPANION, "We need to assess whether you cannot travel on your own."
        )
    if fact.value:
        return Check(
            True,
            "You need someone with you to travel, so a companion can travel free with you.",
            used=(fact,),
        )
    return Check(False, "Our assessment found that you can travel on your own.", used=(fact,))


AWARD_WORDS: Mapping[QualifyingAward, str] = {
    QualifyingAward.PIP_MOVING_AROUND_8: (
        "8 points or more for moving around in your Personal Independence Payment"
    ),
    QualifyingAward.PIP_PLANNING_JOURNEYS_12E: (
        "10 points for planning and following journeys (descriptor E) in your Personal "
        "Independence Payment"
    ),
    QualifyingAward.DLA_HIGHER_RATE_MOBILITY: (
        "the higher rate mobility component of Disability Living Allowance"
    ),
    QualifyingAward.SEVERELY_SIGHT_IMPAIRED: "being registered severely sight impaired (blind)",
    QualifyingAward.WAR_PENSIONERS_MOBILITY_SUPPLEMENT: "War Pensioners' Mobility Supplement",
    QualifyingAward.AFCS_TARIFF_1_TO_8: (
        "an Armed Forces Compensation Scheme award at tariff 1 to 8, with a permanent and "
        "substantial difficulty walking"
    ),
}


def blue_badge(ctx: Context, params: Params) -> Check:
    """A recorded decision wins; otherwise an award that qualifies without assessment."""
    decision = ctx.fact(FactName.BLUE_BADGE_DECISION)
    if decision is not None:
        assert isinstance(decision.value, BlueBadgeDecision)
        value = decision.value
        if not value.approved:
            return Check(
                False,
                f"The council decided on {long_date(value.decided_on)} not to award a Blue "
                "Badge. You can apply again if things change.",
                used=(decision,),
            )
        if value.expires_on is not None and value.expires_on < ctx.on:
            return _need(
                FactName.BLUE_BADGE_DECISION,
                f"Your Blue Badge ended on {long_date(value.expires_on)}; you need to renew it.",
            )
        return Check(
            True,
            f"The council awarded you a Blue Badge on {long_date(value.decided_on)}.",
            used=(decision,),
            until=value.expires_on,
        )
    award = ctx.fact(FactName.QUALIFYING_AWARD)
    if award is not None:
        assert isinstance(award.value, QualifyingAward)
        return Check(
            True,
            "You can have a Blue Badge without further assessment because you get "
            f"{AWARD_WORDS[award.value]}.",
            used=(award,),
        )
    return Check(
        None,
        "You do not get a benefit or award that qualifies you automatically, so the council "
        "needs to assess your application.",
        needs=(
            Need(FactName.QUALIFYING_AWARD, "A benefit or award that qualifies you automatically."),
            Need(FactName.BLUE_BADGE_DECISION, "Or a decision after the council assesses you."),
        ),
    )


CONDITIONS: Mapping[str, ConditionType] = {
    "lives-in-kent": ConditionType(lives_in_kent, {}),
    "lives-works-or-studies-in-kent": ConditionType(lives_works_or_studies_in_kent, {}),
    "reached-bus-pass-age": ConditionType(reached_bus_pass_age, {}),
    "age-at-least": ConditionType(age_at_least, {"years": int}),
    "age-under": ConditionType(age_under, {"years": int}),
    "consent-if-under": ConditionType(consent_if_under, {"years": int}),
    "school-year-between": ConditionType(school_year_between, {"from": int, "to": int}),
    "age-on-31-august-between": ConditionType(age_on_31_august_between, {"min": int, "max": int}),
    "in-full-time-education": ConditionType(in_full_time_education, {}),
    "statutory-disability": ConditionType(statutory_disability, {"evidence": dict}),
    "needs-companion": ConditionType(needs_companion, {}),
    "blue-badge": ConditionType(blue_badge, {}),
}
