"""Postcode to local authority, and whether that is Kent.

"Kent" means the 12 districts of Kent County Council; Medway is a separate (unitary)
council. A postcode district (the part before the space, such as ME1) can straddle a
boundary; when only the district is known and it touches both Kent and somewhere else,
the answer is "needs evidence", never a guess.

Two sources share one interface: the ONS Postcode Directory (full postcodes, loaded from
its CSV) and a small built-in table for demos and tests: postcode districts near Kent, and
every UK postcode area, so a postcode far from Kent (M1, EH1, BT1) is "not in Kent" and
names the region or nation, while an area that touches Kent answers only by district.
"""

from __future__ import annotations

import csv
import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Protocol

KENT_DISTRICTS: Mapping[str, str] = {
    "E07000105": "Ashford",
    "E07000106": "Canterbury",
    "E07000107": "Dartford",
    "E07000108": "Dover",
    "E07000109": "Gravesham",
    "E07000110": "Maidstone",
    "E07000111": "Sevenoaks",
    "E07000112": "Folkestone and Hythe",
    "E07000113": "Swale",
    "E07000114": "Thanet",
    "E07000115": "Tonbridge and Malling",
    "E07000116": "Tunbridge Wells",
}
NEIGHBOURS: Mapping[str, str] = {
    "E06000035": "Medway",
    "E09000004": "Bexley",
    "E09000006": "Bromley",
    "E07000065": "Wealden",
    "E07000064": "Rother",
    "E07000215": "Tandridge",
}
#: Councils, regions and nations named by the built-in tables beyond Kent's neighbours.
#: ONS GSS codes; E12 (regions), the nations and the Crown Dependencies are not councils.
ELSEWHERE: Mapping[str, str] = {
    "E07000062": "Hastings",
    "E06000043": "Brighton and Hove",
    "E09000008": "Croydon",
    "E09000011": "Greenwich",
    "E09000022": "Lambeth",
    "E09000023": "Lewisham",
    "E09000028": "Southwark",
    "E10000011": "East Sussex",
    "E10000030": "Surrey",
    "E10000032": "West Sussex",
    "E12000001": "North East England",
    "E12000002": "North West England",
    "E12000003": "Yorkshire and the Humber",
    "E12000004": "the East Midlands",
    "E12000005": "the West Midlands",
    "E12000006": "the East of England",
    "E12000007": "London",
    "E12000008": "South East England outside Kent",
    "E12000009": "South West England",
    "S92000003": "Scotland",
    "W92000004": "Wales",
    "N92000002": "Northern Ireland",
    "L99999999": "the Channel Islands",
    "M99999999": "the Isle of Man",
}
AUTHORITY_NAMES: Mapping[str, str] = {**KENT_DISTRICTS, **NEIGHBOURS, **ELSEWHERE}
_COUNCIL_CODE = re.compile(r"^(E0[6-9]|E10|W06|S12|N09)[0-9]{6}$")

_OUTWARD = r"[A-Z]{1,2}[0-9][0-9A-Z]?"
_FULL = re.compile(rf"^({_OUTWARD}) ?([0-9][A-Z]{{2}})$")
_DISTRICT_ONLY = re.compile(rf"^({_OUTWARD})$")
_AREA = re.compile(r"^[A-Z]{1,2}")


class PostcodeError(ValueError):
    """Not something that looks like a UK postcode or postcode district."""


@dataclass(frozen=True)
class Postcode:
    """A full postcode ("ME14 1XQ") or just its district ("ME14") when that is all we have."""

    district: str
    inward: str | None = None

    @classmethod
    def parse(cls, text: str) -> Postcode:
        compact = re.sub(r"\s+", "", text).upper()
        if match := _FULL.match(compact):
            return cls(match.group(1), match.group(2))
        if match := _DISTRICT_ONLY.match(compact):
            return cls(match.group(1))
        raise PostcodeError(f"{text!r} is not a UK postcode, like ME14 1XQ")

    @property
    def full(self) -> str | None:
        return f"{self.district} {self.inward}" if self.inward else None

    @property
    def area(self) -> str:
        """The letters the district starts with: "ME" for ME14, "M" for M1."""
        match = _AREA.match(self.district)
        assert match is not None  # parse() only accepts districts that start with letters
        return match.group(0)

    def __str__(self) -> str:
        return self.full or self.district


class Residency(enum.Enum):
    IN_KENT = "in Kent"
    NOT_IN_KENT = "not in Kent"
    NEEDS_EVIDENCE = "needs evidence"  # the district straddles Kent's boundary
    UNKNOWN = "unknown postcode"


@dataclass(frozen=True)
class Lookup:
    """What a gazetteer knows about a postcode: the authorities it might be in."""

    postcode: Postcode
    authorities: frozenset[str] = field(default_factory=frozenset)
    exact: bool = False  # True when the full postcode was found, not just its district

    @property
    def residency(self) -> Residency:
        if not self.authorities:
            return Residency.UNKNOWN
        in_kent = {code in KENT_DISTRICTS for code in self.authorities}
        if in_kent == {True}:
            return Residency.IN_KENT
        if in_kent == {False}:
            return Residency.NOT_IN_KENT
        return Residency.NEEDS_EVIDENCE

    @property
    def authority_names(self) -> list[str]:
        return sorted(AUTHORITY_NAMES.get(code, code) for code in self.authorities)

    @property
    def council(self) -> str | None:
        """The one council the postcode is in, when that is known (not a region or nation)."""
        if len(self.authorities) != 1:
            return None
        (code,) = self.authorities
        return AUTHORITY_NAMES.get(code) if _COUNCIL_CODE.match(code) else None


class Gazetteer(Protocol):
    def lookup(self, postcode: Postcode) -> Lookup: ...


@dataclass(frozen=True)
class TableGazetteer:
    """Answers from a table of full postcodes, falling back to districts, then areas.

    The district table is derived from the full postcodes when it is not given, so a
    loaded directory also answers for a district alone, and says when that is ambiguous.
    The area table (built-in only) answers for an area that lies wholly outside Kent.
    """

    postcodes: Mapping[str, str] = field(default_factory=dict)
    districts: Mapping[str, frozenset[str]] = field(default_factory=dict)
    areas: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def lookup(self, postcode: Postcode) -> Lookup:
        if postcode.full and (code := self.postcodes.get(postcode.full)):
            return Lookup(postcode, frozenset({code}), exact=True)
        if codes := self.districts.get(postcode.district):
            return Lookup(postcode, codes)
        return Lookup(postcode, self.areas.get(postcode.area, frozenset()))


def _districts_from(postcodes: Mapping[str, str]) -> dict[str, frozenset[str]]:
    seen: dict[str, set[str]] = {}
    for full, code in postcodes.items():
        seen.setdefault(full.split(" ")[0], set()).add(code)
    return {district: frozenset(codes) for district, codes in seen.items()}


_LAD_COLUMNS = ("oslaua", "laua")
_LAD_PATTERN = re.compile(r"^lad\d{2}cd$")


def _authority_column(header: Iterable[str]) -> str:
    names = [name.strip().lower() for name in header]
    for name in _LAD_COLUMNS:
        if name in names:
            return name
    dated = sorted(name for name in names if _LAD_PATTERN.match(name))
    if dated:
        return dated[-1]  # the newest boundary set in the file
    raise ValueError("no local authority column (oslaua, laua or ladNNcd) in the CSV header")


def load_ons_postcode_directory(
    path: Path, keep_authorities: Iterable[str] | None = None
) -> TableGazetteer:
    """Load the ONS Postcode Directory CSV (columns ``pcds``, ``doterm``, ``oslaua``).

    Terminated postcodes (``doterm`` set) are skipped. ``keep_authorities`` limits memory
    for the 2.7 million-row national file: rows outside those authorities still record
    their district, so a straddling district is still recognised as ambiguous.
    """
    keep = frozenset(keep_authorities) if keep_authorities is not None else None
    postcodes: dict[str, str] = {}
    districts: dict[str, set[str]] = {}
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None:
            raise ValueError(f"{path} is empty")
        column = _authority_column(reader.fieldnames)
        rows = ({k.strip().lower(): (v or "").strip() for k, v in row.items()} for row in reader)
        for row in rows:
            if row.get("doterm"):
                continue
            code = row.get(column, "")
            try:
                postcode = Postcode.parse(row.get("pcds") or row.get("pcd", ""))
            except PostcodeError:
                continue
            if not code or postcode.full is None:
                continue
            districts.setdefault(postcode.district, set()).add(code)
            if keep is None or code in keep:
                postcodes[postcode.full] = code
    return TableGazetteer(postcodes, {d: frozenset(c) for d, c in districts.items()})


def _read_table(name: str, key: str) -> dict[str, frozenset[str]]:
    """One of the built-in CSV tables: ``key`` to the authorities (";"-separated codes)."""
    text = resources.files("entitlements").joinpath(f"data/{name}").read_text()
    table: dict[str, frozenset[str]] = {}
    for row in csv.DictReader(line for line in text.splitlines() if not line.startswith("#")):
        codes = frozenset(code.strip() for code in row["authorities"].split(";") if code.strip())
        unknown = codes - AUTHORITY_NAMES.keys()
        if unknown:
            raise ValueError(f"{name}: unknown authority {sorted(unknown)}")
        table[row[key].strip()] = codes
    return table


@cache
def built_in_gazetteer() -> TableGazetteer:
    """The tables shipped with the code (``data/postcode_districts.csv`` and
    ``data/postcode_areas.csv``). An area that touches Kent has no authorities of its own,
    so only its listed districts answer: the area table never says "in Kent"."""
    areas = _read_table("postcode_areas.csv", "area")
    if any(code in KENT_DISTRICTS for codes in areas.values() for code in codes):
        raise ValueError("postcode_areas.csv: an area may only say where outside Kent it is")
    return TableGazetteer({}, _read_table("postcode_districts.csv", "district"), areas)


def table_from_postcodes(postcodes: Mapping[str, str]) -> TableGazetteer:
    """A gazetteer from full postcodes alone (used by tests and small extracts)."""
    normalised = {str(Postcode.parse(pc)): code for pc, code in postcodes.items()}
    return TableGazetteer(normalised, _districts_from(normalised))
