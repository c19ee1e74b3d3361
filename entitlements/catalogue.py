"""The service catalogue: loaded from ``data/services.toml`` and checked before use.

The file is the reviewable source of truth; this module refuses to start on a file with
an unknown condition, a missing parameter, a duplicate code or an unreadable duration,
so a typo in a rule is caught at start, never at a resident's application.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from entitlements.conditions import CONDITIONS
from entitlements.dates import academic_year_bounds, academic_year_start, add_years_months
from entitlements.facts import DisabilityCategory, FactName, VerificationLevel

_CODE = re.compile(r"^[a-z0-9][a-z0-9-]{1,40}$")
_YEARS = re.compile(r"^(\d{1,2}) years?$")
_SYMBOL = re.compile(r"^[A-Z0-9+]{1,3}$")
_SERVICE_KEYS = {
    "code", "name", "rule", "evidence", "lasts", "on_card", "card_symbol", "condition",
    "partner", "hide_date_of_birth", "decision_days", "grace", "renewal",
}  # fmt: skip
_GRACE_KEYS = {"condition", "days", "moved_within", "source"}
_RENEWAL_KEYS = {"how", "invite_days_before", "recheck", "every"}
#: How a service is renewed (``[service.renewal] how``): "apply-again" - the resident asks
#: again through the add-a-service journey and the facts in ``recheck`` must be seen again;
#: "confirm-details" - the service has no end, but every ``every`` the resident confirms
#: the details we hold are still right.
RENEWAL_HOW = ("apply-again", "confirm-details")
#: Where a move must be to for a grace period that says ``moved_within``: ONS GSS codes of
#: English authorities and regions start with "E".
GRACE_PLACES = {"England": "E"}
#: Working days staff take to decide a request that needs evidence checked, when the
#: catalogue does not say (``decision_days``): the council's standard for correspondence.
DEFAULT_DECISION_DAYS = 10


class CatalogueError(ValueError):
    """The catalogue file is not valid; the message names the service and the problem."""


@dataclass(frozen=True)
class Lasts:
    """How long a grant lasts: a number of years, the academic year, or open-ended."""

    years: int | None = None
    academic_year: bool = False
    #: Carried by the Kent Card and ending with it: the grant's end is the active card's
    #: expiry, which ``idservice`` applies (the engine knows no cards, so ``end`` is None).
    card: bool = False

    @classmethod
    def parse(cls, text: str) -> Lasts:
        text = text.strip().lower()
        if text == "until cancelled":
            return cls()
        if text == "academic year":
            return cls(academic_year=True)
        if text == "until the card expires":
            return cls(card=True)
        if (match := _YEARS.match(text)) and int(match.group(1)) > 0:
            return cls(years=int(match.group(1)))
        raise ValueError(
            'lasts must be "N years", "academic year", "until the card expires" or '
            f'"until cancelled": {text!r}'
        )

    def end(self, start: date) -> date | None:
        """The last day of a grant starting on ``start``."""
        if self.academic_year:
            return academic_year_bounds(academic_year_start(start))[1]
        if self.years is not None:
            return add_years_months(start, years=self.years) - timedelta(days=1)
        return None

    def __str__(self) -> str:
        if self.academic_year:
            return "academic year"
        if self.card:
            return "until the card expires"
        return f"{self.years} years" if self.years else "until cancelled"


@dataclass(frozen=True)
class Renewal:
    """How a service is renewed (catalogue ``[service.renewal]``, policy as data).

    ``how``: "apply-again" (the grant ends on its date; the resident applies again and the
    facts in ``recheck`` must be seen again, so proof we saw years ago is asked for afresh)
    or "confirm-details" (no end date, but every ``every_years`` the resident confirms the
    details we hold; until they do, the service is paused). ``invite_days_before``: how
    many days before the end (or the day details are due) the invitation is sent; None
    takes the instance's default (``KENTCARD_RENEWAL_INVITE_DAYS``).
    """

    how: str
    recheck: tuple[FactName, ...] = ()
    invite_days_before: int | None = None
    every_years: int | None = None

    @property
    def confirms_details(self) -> bool:
        return self.how == "confirm-details"

    def window_opens(self, ends_on: date, default_days: int) -> date:
        """The first day the resident is invited to renew a grant ending on ``ends_on``."""
        days = default_days if self.invite_days_before is None else self.invite_days_before
        return ends_on - timedelta(days=days)


@dataclass(frozen=True)
class Grace:
    """A period a service runs on after one of its rules stops holding (policy, as data).

    ``condition`` is the catalogue test that stopped holding; ``days`` how long the service
    carries on from the day we learn of it; ``moved_within`` (optional) limits the grace to a
    move whose new address is in that place (``GRACE_PLACES``); ``source`` cites the rule.
    """

    condition: str
    days: int
    source: str
    moved_within: str | None = None


@dataclass(frozen=True)
class Condition:
    test: str
    params: Mapping[str, Any]


@dataclass(frozen=True)
class Service:
    code: str
    name: str
    rule: str
    evidence: VerificationLevel
    lasts: Lasts
    on_card: bool
    conditions: tuple[Condition, ...]
    partner: str | None = None
    hide_date_of_birth: bool = False
    card_symbol: str | None = None  # printed on the card (production file)
    decision_days: int = DEFAULT_DECISION_DAYS
    grace: tuple[Grace, ...] = ()
    renewal: Renewal | None = None

    def details_due(self, start: date) -> date | None:
        """For a "confirm-details" service, the last day before details must be confirmed
        again, counted from ``start`` (the grant or the last confirmation); else None."""
        if self.renewal is None or self.renewal.every_years is None:
            return None
        return add_years_months(start, years=self.renewal.every_years) - timedelta(days=1)

    def grace_for(self, test: str) -> Grace | None:
        """The grace period when ``test`` stops holding, if the catalogue gives one."""
        return next((g for g in self.grace if g.condition == test), None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "rule": self.rule,
            "evidence": self.evidence.label,
            "lasts": str(self.lasts),
            "on_card": self.on_card,
            "card_symbol": self.card_symbol,
            "partner": self.partner,
            "decision_days": self.decision_days,
            "conditions": [{"test": c.test, **c.params} for c in self.conditions],
            "grace": [
                {"condition": g.condition, "days": g.days, "moved_within": g.moved_within}
                for g in self.grace
            ],
            "renewal": None
            if self.renewal is None
            else {
                "how": self.renewal.how,
                "recheck": [f.value for f in self.renewal.recheck],
                "invite_days_before": self.renewal.invite_days_before,
                "every": f"{self.renewal.every_years} years" if self.renewal.every_years else None,
            },
        }


@dataclass(frozen=True)
class Catalogue:
    services: tuple[Service, ...]

    def __iter__(self) -> Iterator[Service]:
        return iter(self.services)

    def get(self, code: str) -> Service:
        for service in self.services:
            if service.code == code:
                return service
        raise KeyError(code)

    @property
    def codes(self) -> list[str]:
        return [service.code for service in self.services]


def _condition(where: str, raw: Any) -> Condition:
    if not isinstance(raw, dict) or not isinstance(raw.get("test"), str):
        raise CatalogueError(f"{where}: each condition needs a test")
    test = raw["test"]
    kind = CONDITIONS.get(test)
    if kind is None:
        raise CatalogueError(f"{where}: unknown test {test!r}; known: {sorted(CONDITIONS)}")
    params = {k: v for k, v in raw.items() if k != "test"}
    if set(params) != set(kind.params):
        raise CatalogueError(f"{where} {test}: parameters must be {sorted(kind.params)}")
    for name, expected in kind.params.items():
        value = params[name]
        if not isinstance(value, expected) or isinstance(value, bool) != (expected is bool):
            raise CatalogueError(f"{where} {test}: {name} must be {expected.__name__}")
    if test == "statutory-disability":
        letters = {category.value for category in DisabilityCategory}
        evidence = params["evidence"]
        if set(evidence) != letters or not all(isinstance(v, str) and v for v in evidence.values()):
            raise CatalogueError(f"{where}: evidence must describe each of a to g")
    return Condition(test, params)


def _grace(where: str, raw: Any, tests: set[str]) -> Grace:
    if not isinstance(raw, dict) or set(raw) - _GRACE_KEYS:
        raise CatalogueError(f"{where}: grace takes only {sorted(_GRACE_KEYS)}")
    condition, days, source = raw.get("condition"), raw.get("days"), raw.get("source")
    if condition not in tests:
        raise CatalogueError(f"{where}: grace condition must be one of the service's tests")
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= 366:
        raise CatalogueError(f"{where}: grace days must be a number of days, 1 to 366")
    if not isinstance(source, str) or not source.strip():
        raise CatalogueError(f"{where}: grace needs a source (the rule it follows)")
    within = raw.get("moved_within")
    if within is not None and within not in GRACE_PLACES:
        raise CatalogueError(f"{where}: grace moved_within must be one of {sorted(GRACE_PLACES)}")
    return Grace(condition, days, " ".join(source.split()), within)


def _renewal(where: str, raw: Any, lasts: Lasts) -> Renewal:
    if not isinstance(raw, dict) or set(raw) - _RENEWAL_KEYS:
        raise CatalogueError(f"{where}: renewal takes only {sorted(_RENEWAL_KEYS)}")
    how = raw.get("how")
    if how not in RENEWAL_HOW:
        raise CatalogueError(f"{where}: renewal how must be one of {list(RENEWAL_HOW)}")
    days = raw.get("invite_days_before")
    if days is not None and (
        not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= 180
    ):
        raise CatalogueError(f"{where}: renewal invite_days_before must be 1 to 180 days")
    recheck = raw.get("recheck", [])
    known = {name.value for name in FactName}
    if not isinstance(recheck, list) or not all(isinstance(r, str) and r in known for r in recheck):
        raise CatalogueError(f"{where}: renewal recheck lists fact names: {sorted(known)}")
    every = raw.get("every")
    if how == "confirm-details":
        match = _YEARS.match(every.strip().lower()) if isinstance(every, str) else None
        if match is None or int(match.group(1)) < 1:
            raise CatalogueError(f'{where}: a confirm-details renewal needs every = "N years"')
        if lasts != Lasts():
            raise CatalogueError(
                f'{where}: confirm-details is for services that last "until cancelled"'
            )
        if recheck:
            raise CatalogueError(f"{where}: confirm-details renewals recheck no facts")
        return Renewal(how, (), days, int(match.group(1)))
    if every is not None:
        raise CatalogueError(f"{where}: every is only for confirm-details renewals")
    if lasts.years is None and not lasts.academic_year:
        raise CatalogueError(f"{where}: an apply-again renewal needs a service that ends")
    return Renewal(how, tuple(FactName(r) for r in recheck), days)


def _service(index: int, raw: Any) -> Service:
    if not isinstance(raw, dict):
        raise CatalogueError(f"service {index}: not a table")
    code = raw.get("code")
    where = f"service {code or index}"
    if not isinstance(code, str) or not _CODE.match(code):
        raise CatalogueError(f"{where}: code must be lower-case letters, digits and dashes")
    unknown = set(raw) - _SERVICE_KEYS
    if unknown:
        raise CatalogueError(f"{where}: unknown keys {sorted(unknown)}")
    for key in ("name", "rule", "evidence", "lasts"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise CatalogueError(f"{where}: {key} is required")
    if not isinstance(raw.get("on_card"), bool):
        raise CatalogueError(f"{where}: on_card must be true or false")
    conditions = raw.get("condition")
    if not isinstance(conditions, list) or not conditions:
        raise CatalogueError(f"{where}: needs at least one condition")
    try:
        evidence = VerificationLevel.parse(raw["evidence"])
        lasts = Lasts.parse(raw["lasts"])
    except ValueError as exc:
        raise CatalogueError(f"{where}: {exc}") from None
    parsed_conditions = tuple(_condition(where, c) for c in conditions)
    symbol = raw.get("card_symbol")
    if symbol is not None and (not isinstance(symbol, str) or not _SYMBOL.match(symbol)):
        raise CatalogueError(f"{where}: card_symbol must be 1 to 3 capital letters, digits or +")
    if symbol is not None and not raw["on_card"]:
        raise CatalogueError(f"{where}: card_symbol is only for services with on_card = true")
    hide = raw.get("hide_date_of_birth", False)
    partner = raw.get("partner")
    if not isinstance(hide, bool) or not (partner is None or isinstance(partner, str)):
        raise CatalogueError(f"{where}: hide_date_of_birth is true/false, partner is a name")
    days = raw.get("decision_days", DEFAULT_DECISION_DAYS)
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= 120:
        raise CatalogueError(f"{where}: decision_days must be a number of working days, 1 to 120")
    tests = {c.test for c in parsed_conditions}
    grace = raw.get("grace", [])
    if not isinstance(grace, list):
        raise CatalogueError(f"{where}: grace is a list of [[service.grace]] tables")
    return Service(
        code=code,
        name=raw["name"].strip(),
        rule=" ".join(raw["rule"].split()),
        evidence=evidence,
        lasts=lasts,
        on_card=raw["on_card"],
        conditions=parsed_conditions,
        partner=partner,
        hide_date_of_birth=hide,
        card_symbol=symbol,
        decision_days=days,
        grace=tuple(_grace(where, g, tests) for g in grace),
        renewal=None if raw.get("renewal") is None else _renewal(where, raw["renewal"], lasts),
    )


def parse_catalogue(text: str) -> Catalogue:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogueError(f"the catalogue is not valid TOML: {exc}") from None
    if set(data) != {"service"} or not isinstance(data["service"], list):
        raise CatalogueError("the catalogue must contain only [[service]] entries")
    services = tuple(_service(i, raw) for i, raw in enumerate(data["service"], start=1))
    codes = [s.code for s in services]
    duplicates = sorted({c for c in codes if codes.count(c) > 1})
    if duplicates:
        raise CatalogueError(f"duplicate service codes: {duplicates}")
    symbols = [s.card_symbol for s in services if s.card_symbol]
    shared = sorted({s for s in symbols if symbols.count(s) > 1})
    if shared:
        raise CatalogueError(f"card symbols used by more than one service: {shared}")
    return Catalogue(services)


def load_catalogue(path: Path | None = None) -> Catalogue:
    """The catalogue from ``path``, or the one shipped in ``entitlements/data``."""
    if path is not None:
        return parse_catalogue(path.read_text(encoding="utf-8"))
    text = resources.files("entitlements").joinpath("data/services.toml").read_text("utf-8")
    return parse_catalogue(text)
