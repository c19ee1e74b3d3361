"""A Kent-shaped population for the daily sweep benchmark (PostgreSQL).

:func:`populate` fills an empty, migrated database with ``count`` residents (1.6 million
for Kent) as the sweep finds them on the morning of ``first_day``:

- **residents** whose ages follow Kent's shape roughly (children, working age, older
  people), tilted so that a quarter have reached the older person's bus pass age; each
  lives at a made-up address in a postcode district wholly in Kent;
- **facts** the catalogue's rules read, as checked facts (``staff-seen-document``, level
  2): date of birth and address for everyone, and where a service needs it a school year,
  full-time education, a disability, a companion assessment, a Blue Badge decision
  (verified) or a parent's consent;
- **entitlements** (:meth:`Population.holdings`): library membership for most, the older
  person's bus pass for 98 % of those past its age (about 400,000 of 1.6 million), some
  disabled person's and companion passes, Travel Savers for school ages, Blue Badges and
  the two example partner offers. A service with a term (5 years, 3 years, 1 year, details
  due every 3 years) has its end spread uniformly over the term, the first end being the
  day before ``first_day``: each day about 1/term of its holders come to their end, and
  as many reach their invitation day. Travel Savers end on 31 August, all together
  (a first day of 1 September, ``--first-day 2027-09-01``, finds them all at their end).
- **the ledger**: one ``grant`` event per entitlement, chained and hashed exactly as
  :func:`entitlements.ledger.store.append` would, with the projection
  (``entitlement_states``) and the head to match, so ``kentcard ledger verify`` checks
  the whole ledger before and after a sweep and ``kentcard ledger rebuild`` gives the
  same projection.

Not written: cards (the sweep does not read them, so "proof of age", which lasts as long
as the card, is not held), sign-in details, requests and offers (none is open before the
first sweep). Everything is derived from a seed and the index, so the same call gives the
same data; no personal data is real.

Workers make the rows of a chunk of residents in parallel; the parent gives each event
its sequence number, hashes and chains it (the chain is sequential) and writes everything
with ``COPY`` in one transaction.
"""

from __future__ import annotations

import hashlib
import io
import json
import secrets
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from benchmarks.kent_scale import CHUNK, _bytea, _pg_dsn, parallel_copy
from entitlements.codec import to_json
from entitlements.dates import (
    academic_year_bounds,
    academic_year_start,
    age_on,
    birthday,
    school_year_for,
)
from entitlements.facts import (
    Address,
    BlueBadgeDecision,
    Disability,
    DisabilityCategory,
    FactName,
    FactValue,
    SchoolYear,
)
from entitlements.ledger.events import Channel, EventKind, LedgerEvent
from entitlements.ledger.store import chain
from entitlements.ledger.tables import GENESIS_CHAIN_HASH
from entitlements.pension_age import concessionary_travel_date

DB_NAME = "kentcard_population"
STATE_FILE = "sweep-population.json"
#: The day of the first sweep the data is built for: an ordinary day (no school year
#: begins, no Travel Saver ends; their invitations are not due yet).
FIRST_DAY = date(2027, 3, 15)
#: Bumped whenever the generator changes what it writes: an older build is not reused.
VERSION = 2
#: Facts per resident at most: fact ids are ``index * FACTS_PER_RESIDENT + n``.
FACTS_PER_RESIDENT = 8

#: Kent's age shape, roughly (Census 2021 bands), tilted so that about a quarter have
#: reached the older person's bus pass age (66 to 67 for people born from 1954 on):
#: (youngest, oldest, share of residents).
AGE_BANDS: tuple[tuple[int, int, float], ...] = (
    (0, 4, 0.054),
    (5, 10, 0.070),
    (11, 15, 0.062),
    (16, 19, 0.046),
    (20, 24, 0.050),
    (25, 44, 0.215),
    (45, 59, 0.180),
    (60, 66, 0.068),
    (67, 79, 0.170),
    (80, 99, 0.085),
)
#: Postcode districts wholly in Kent (the built-in gazetteer says "lives in Kent").
DISTRICTS = (
    *("CT1", "CT5", "CT6", "CT9", "CT10", "CT11", "CT14", "CT16", "CT19", "CT20", "CT21"),
    *("DA11", "ME10", "ME12", "ME14", "ME15", "ME19", "TN1", "TN9", "TN13", "TN23", "TN24"),
)

#: Terms in days of the services held for a fixed time (5, 3 and 1 years): never longer
#: than the catalogue's years (1,826 or 1,827, 1,095 or 1,096, 365 or 366 days).
YEARS_5, YEARS_3, YEAR = 1826, 1095, 365


@dataclass(frozen=True)
class Holding:
    service: str
    valid_from: date
    valid_until: date
    evidence: tuple[int, ...]  # the fact numbers (0..7) the grant relied on


@dataclass(frozen=True)
class FactRow:
    number: int  # 0..FACTS_PER_RESIDENT-1
    name: FactName
    value: FactValue
    level: int
    expires_on: date | None = None


@dataclass(frozen=True)
class Population:
    """What :func:`populate` writes for ``count`` residents before ``first_day``."""

    count: int
    seed: bytes
    first_day: date = FIRST_DAY

    def resident_id(self, i: int) -> str:
        return str(uuid.UUID(int=(0xB7 << 120) | i))

    def fact_id(self, i: int, number: int) -> int:
        return i * FACTS_PER_RESIDENT + number + 1

    def _draws(self, i: int) -> list[float]:
        """Sixteen independent uniform numbers in [0, 1) for resident ``i``."""
        digest = hashlib.blake2b(i.to_bytes(8, "big"), key=self.seed, digest_size=64).digest()
        return [int.from_bytes(digest[k : k + 4], "big") / 2**32 for k in range(0, 64, 4)]

    def date_of_birth(self, i: int) -> date:
        u = self._draws(i)
        pick, total = u[0], 0.0
        youngest, oldest = AGE_BANDS[-1][:2]
        for low, high, share in AGE_BANDS:
            total += share
            if pick < total:
                youngest, oldest = low, high
                break
        days = int((youngest + u[1] * (oldest - youngest + 1)) * 365.25)
        return self.first_day - timedelta(days=days + 1)

    def postcode(self, i: int) -> str:
        return f"{DISTRICTS[i % len(DISTRICTS)]} {i % 9 + 1}{'ABDEFGHJLNPQRSTUWXYZ'[i % 20]}Q"

    def facts(self, i: int) -> list[FactRow]:
        """The resident's current facts (a service's extra facts only when they hold it)."""
        held = {h.service for h in self.holdings(i)}
        return self._facts(i, held)

    def _facts(self, i: int, held: set[str]) -> list[FactRow]:
        dob = self.date_of_birth(i)
        rows = [
            FactRow(0, FactName.DATE_OF_BIRTH, dob, 2),
            FactRow(1, FactName.ADDRESS, Address(self.postcode(i)), 2),
        ]
        before = self.first_day - timedelta(days=1)
        year = academic_year_start(before)
        if "kent-travel-saver" in held:
            group = school_year_for(dob, before)
            rows.append(FactRow(2, FactName.SCHOOL_YEAR, SchoolYear(group, year), 2))
        if "16-plus-travel-saver" in held:
            ends = academic_year_bounds(year)[1]
            rows.append(FactRow(3, FactName.FULL_TIME_EDUCATION, True, 2, ends))
        if "bus-pass-disabled" in held:
            seen = Disability(DisabilityCategory.WALKING, "Personal Independence Payment award")
            rows.append(FactRow(4, FactName.DISABILITY, seen, 2))
        if "bus-pass-companion" in held:
            rows.append(FactRow(5, FactName.NEEDS_COMPANION, True, 2))
        if "blue-badge" in held:
            badge = next(h for h in self.holdings(i) if h.service == "blue-badge")
            decision = BlueBadgeDecision(True, badge.valid_from, badge.valid_until)
            rows.append(FactRow(6, FactName.BLUE_BADGE_DECISION, decision, 3, badge.valid_until))
        if "library" in held and age_on(dob, self.first_day) < 16:
            rows.append(FactRow(7, FactName.PARENTAL_CONSENT, True, 2))
        return rows

    def _term(self, service: str, term: int, start: date, u: float, basis: int) -> Holding:
        """A grant renewed every ``term`` days since ``start`` (or, when ``start`` is
        long past, at a phase ``u`` of the term): its current term ends from the day
        before the first sweep to ``term - 1`` days after it."""
        last = self.first_day - timedelta(days=1)
        if (last - start).days >= term:
            start = last - timedelta(days=int(u * term))
        terms = (last - start).days // term
        valid_from = start + timedelta(days=terms * term)
        return Holding(service, valid_from, valid_from + timedelta(days=term - 1), (0, 1, basis))

    def holdings(self, i: int) -> list[Holding]:
        """What resident ``i`` holds (active) on the morning of the first sweep."""
        u = self._draws(i)
        dob = self.date_of_birth(i)
        day = self.first_day
        age = age_on(dob, day)
        long_ago = day - timedelta(days=10 * 365)
        held: list[Holding] = []
        if u[2] < (0.6 if age < 16 else 0.85):
            consent = (7,) if age < 16 else ()
            library = self._term("library", YEARS_3, long_ago, u[3], 1)
            held.append(Holding("library", library.valid_from, library.valid_until, (1, *consent)))
        bus_age = concessionary_travel_date(dob)
        if bus_age < day and u[4] < 0.98:
            held.append(self._term("bus-pass-older", YEARS_5, bus_age, u[5], 1))
        elif age >= 5 and u[4] < 0.025:
            held.append(self._term("bus-pass-disabled", YEARS_5, long_ago, u[5], 4))
            if u[6] < 0.2:
                held.append(self._term("bus-pass-companion", YEARS_5, long_ago, u[5], 5))
        # The school year of the day before the first sweep: a first sweep on 1 September
        # finds every Travel Saver at its end.
        before = day - timedelta(days=1)
        group = school_year_for(dob, before)
        first, last = academic_year_bounds(academic_year_start(before))
        if 7 <= group <= 11 and u[6] < 0.35:
            held.append(Holding("kent-travel-saver", first, last, (0, 1, 2)))
        if 16 <= group + 4 <= 19 and u[6] < 0.2:
            held.append(Holding("16-plus-travel-saver", first, last, (0, 1, 3)))
        if age >= 18 and u[7] < 0.03:
            badge = self._term("blue-badge", YEARS_3, long_ago, u[8], 0)
            held.append(Holding("blue-badge", badge.valid_from, badge.valid_until, (6,)))
        if age >= 60 and 0.9 < u[7] < 0.95:
            held.append(self._term("partner-leisure-60-plus", YEAR, long_ago, u[9], 1))
        if age < 25 and 0.9 < u[7] < 0.95:
            # The engine grants it up to the day before the 25th birthday at most.
            offer = self._term("partner-young-person-leisure", YEAR, long_ago, u[9], 1)
            ends = min(offer.valid_until, birthday(dob, 25) - timedelta(days=1))
            held.append(Holding(offer.service, offer.valid_from, ends, offer.evidence))
        return held

    def grant(self, i: int, holding: Holding) -> LedgerEvent:
        """The ``grant`` event of a holding (through the add-a-service journey, online)."""
        return LedgerEvent(
            kind=EventKind.GRANT,
            resident=self.resident_id(i),
            service=holding.service,
            actor="resident",
            channel=Channel.WEB,
            reason="eligible",
            occurred_at=datetime.combine(holding.valid_from, datetime.min.time(), UTC),
            evidence=tuple(f"fact:{self.fact_id(i, n)}" for n in holding.evidence),
            valid_from=holding.valid_from,
            valid_until=holding.valid_until,
        )


_SEQ = b'"seq":0,'


def _rows(args: tuple[int, bytes, date], start: int, stop: int) -> tuple[str, str, list]:
    """COPY text of residents and facts of ``start``..``stop``, and their grants as
    (resident, service, valid_from, valid_until, body before ``seq``, body after)."""
    population = Population(*args)
    residents, facts = io.StringIO(), io.StringIO()
    grants: list[tuple[str, str, str, str, bytes, bytes]] = []
    now = "2026-01-01 00:00:00+00"
    for i in range(start, stop):
        rid = population.resident_id(i)
        dob = population.date_of_birth(i)
        residents.write(
            f"{rid}\tResident\tNumber {i}\t{dob.isoformat()}\t{i} High Street\tKent\t"
            f"{population.postcode(i)}\ten\t[]\tf\tactive\tdocuments-seen\t{now}\t{now}\n"
        )
        holdings = population.holdings(i)
        for fact in population._facts(i, {h.service for h in holdings}):
            value = json.dumps(to_json(fact.name, fact.value))
            expires = fact.expires_on.isoformat() if fact.expires_on else "\\N"
            source = "council-decision" if fact.level == 3 else "staff-seen-document"
            facts.write(
                f"{population.fact_id(i, fact.number)}\t{rid}\t{fact.name.value}\t{value}\t"
                f"{source}\t{fact.level}\tstaff\tbenchmark\tface-to-face\t{now}\t{expires}\n"
            )
        for holding in holdings:
            before, after = population.grant(i, holding).body(0).split(_SEQ)
            grants.append(
                (
                    rid,
                    holding.service,
                    holding.valid_from.isoformat(),
                    holding.valid_until.isoformat(),
                    before,
                    after,
                )
            )
    return residents.getvalue(), facts.getvalue(), grants


def _rows_star(job: tuple[tuple[int, bytes, date], int, int]) -> tuple[str, str, list]:
    return _rows(*job)


_RESIDENTS = (
    "residents (id, given_name, family_name, date_of_birth, address_line_1, town, postcode, "
    "language, alternative_formats, text_relay, status, identity_level, created_at, "
    "updated_at)"
)
_FACTS = (
    "resident_facts (id, resident_id, name, value, source, level, recorded_by_type, "
    "recorded_by_id, channel, recorded_at, expires_on)"
)
_EVENTS = "ledger_events (seq, kind, resident, service, body, leaf_hash, chain_hash)"
_STATES = "entitlement_states (resident, service, status, valid_from, valid_until, last_seq)"


class _Ledger:
    """Numbers, hashes and chains grants in order, as the ledger's append does."""

    def __init__(self) -> None:
        self.size = 0
        self.chain_hash = GENESIS_CHAIN_HASH

    def write(self, grants: list, events: io.StringIO, states: io.StringIO) -> None:
        sha256 = hashlib.sha256
        for rid, service, valid_from, valid_until, before, after in grants:
            self.size += 1
            body = before + b'"seq":%d,' % self.size + after
            leaf = sha256(b"\x00" + body).digest()
            self.chain_hash = chain(self.chain_hash, leaf)
            text = body.decode().replace("\\", "\\\\")
            events.write(
                f"{self.size}\tgrant\t{rid}\t{service}\t{text}\t{_bytea(leaf)}\t"
                f"{_bytea(self.chain_hash)}\n"
            )
            states.write(f"{rid}\t{service}\tactive\t{valid_from}\t{valid_until}\t{self.size}\n")


def populate(
    url: str,
    instance: Path,
    count: int,
    first_day: date = FIRST_DAY,
    workers: int = 2,
    seed: bytes | None = None,
    progress: Callable[[str], None] = print,
) -> Population:
    """Fill a migrated, empty PostgreSQL database (one transaction) and save the state
    (count, seed, first day, ledger size) in ``instance``."""
    population = Population(count, seed or secrets.token_bytes(32), first_day)
    args = (population.count, population.seed, population.first_day)
    ledger = _Ledger()
    tables = ("residents", "resident_facts", "ledger_events", "entitlement_states")
    with parallel_copy(url, _rows_star, args, count, workers, tables) as (cur, blocks):
        for (residents, facts, grants), stop in blocks:
            events, states = io.StringIO(), io.StringIO()
            ledger.write(grants, events, states)
            for table, text in (
                (_RESIDENTS, residents),
                (_FACTS, facts),
                (_EVENTS, events.getvalue()),
                (_STATES, states.getvalue()),
            ):
                with cur.copy(f"COPY {table} FROM STDIN") as copy:
                    copy.write(text)
            if stop % 200_000 < CHUNK or stop == count:
                progress(f"population: {stop:,} of {count:,} residents, {ledger.size:,} grants")
        cur.execute(
            "UPDATE ledger_head SET size = %s, chain_hash = %s WHERE id = 1",
            (ledger.size, ledger.chain_hash),
        )
        cur.execute(
            "SELECT setval(pg_get_serial_sequence('resident_facts', 'id'), %s)",
            (count * FACTS_PER_RESIDENT + 1,),
        )
    instance.mkdir(parents=True, exist_ok=True)
    (instance / STATE_FILE).write_text(
        json.dumps(
            {
                "version": VERSION,
                "count": count,
                "seed": population.seed.hex(),
                "first_day": first_day.isoformat(),
                "events": ledger.size,
            }
        )
    )
    return population


def open_existing(url: str, instance: Path) -> Population | None:
    """The population a previous :func:`populate` left here, if whole and never swept."""
    import psycopg

    state = instance / STATE_FILE
    if not state.exists():
        return None
    saved = json.loads(state.read_text())
    if saved.get("version") != VERSION:
        return None
    population = Population(
        int(saved["count"]), bytes.fromhex(saved["seed"]), date.fromisoformat(saved["first_day"])
    )
    try:
        with psycopg.connect(_pg_dsn(url)) as conn:
            head = conn.execute("SELECT size FROM ledger_head WHERE id = 1").fetchone()
            residents = conn.execute("SELECT count(*) FROM residents").fetchone()
            swept = conn.execute("SELECT count(*) FROM sweep_runs").fetchone()
    except psycopg.Error:
        return None
    if not head or head[0] != saved["events"] or not residents or not swept:
        return None
    if residents[0] != population.count or swept[0] != 0:
        return None
    return population


def open_or_populate(
    admin_url: str,
    instance: Path,
    count: int,
    db_name: str = DB_NAME,
    first_day: date = FIRST_DAY,
    rebuild: bool = False,
    progress: Callable[[str], None] = print,
) -> tuple[str, Population]:
    """The URL of ``db_name`` and its population: reused when an earlier build of
    ``count`` residents for ``first_day`` is there (brought to the migrations' head),
    else built afresh (minutes at Kent's scale)."""
    import time

    from benchmarks import kent_scale

    url = kent_scale.database_url(admin_url, db_name)
    population = None
    if kent_scale.database_exists(admin_url, db_name) and not rebuild:
        population = open_existing(url, instance)
        if population is not None and (population.count, population.first_day) != (
            count,
            first_day,
        ):
            population = None
    if population is None:
        progress(f"building {db_name}: {count:,} residents for a first sweep on {first_day}")
        kent_scale.recreate(admin_url, db_name, instance)
        started = time.monotonic()
        population = populate(url, instance, count, first_day, progress=progress)
        progress(f"built in {time.monotonic() - started:.0f} s")
    else:
        kent_scale.upgrade_existing(url)
        progress(f"reusing {db_name} ({population.count:,} residents)")
    return url, population


def counts(population: Population, indexes: Iterator[int] | range) -> dict[str, int]:
    """Holders of each service among ``indexes`` (for the builder's smoke test)."""
    held: dict[str, int] = {}
    for i in indexes:
        for holding in population.holdings(i):
            held[holding.service] = held.get(holding.service, 0) + 1
    return held
