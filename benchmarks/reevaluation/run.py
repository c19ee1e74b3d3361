"""What does deciding a resident's entitlements again cost the request that changed a fact?
(issue 11: "re-evaluation on a single fact change adds at most 5 ms to the request
(median)").

Every change of fact is followed, before its transaction commits, by a re-evaluation of
everything the resident holds, has asked for or could be offered
(``idservice.services.reevaluation``). This benchmark sends the real "Change your address"
request (``POST /account/change/address`` through the app, signed in as the resident) to a
PostgreSQL database, with the re-evaluation on and with it off, interleaved pair by pair so
that a busy machine slows both alike, and prints for each case:

- the median request time with and without it, and the median of the pairs' differences:
  what re-evaluation adds to the request;
- the median time of the re-evaluation itself (the ``before_commit`` hook, timed around it
  after the request's own writes are flushed).

Two cases, each resident holding an older person's bus pass and library membership, with a
bus operator connected as a partner:

- **within Kent**: a move to another Kent address, the most common change: every service is
  decided again and nothing changes;
- **to Medway**: a move out of Kent to Medway (in England): the bus pass is cut to the
  catalogue's 90 days of grace (a ``renew`` ledger event), the bus operator gets an
  ``entitlement-ended`` event in its outbox, the resident a notice by email, library
  membership is decided again too. Each such request needs a resident who has not moved yet.

It works on a database of its own (``--db-name``, dropped at the end): a copy of the
Kent-scale population that ``make bench-sweep`` builds (``kentcard_population``: 1.6 million
residents with their facts and 1.9 million entitlements) when that has been built, so that
the queries run against tables of Kent's size, or else an empty one (``--template ""``), in
which it creates the residents it needs either way.

    make bench-reevaluation
    .venv/bin/python benchmarks/reevaluation/run.py [--rounds 60] [--template NAME]
"""

from __future__ import annotations

import argparse
import logging
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from flask import Flask  # noqa: E402
from flask.testing import FlaskClient  # noqa: E402
from sqlalchemy import create_engine, func, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from entitlements.ledger import store  # noqa: E402
from entitlements.ledger.events import Channel, EventKind, LedgerEvent  # noqa: E402
from idservice import create_app, migrate  # noqa: E402
from idservice.auth.levels import AMR_PASSWORD, acr_for  # noqa: E402
from idservice.config import Settings  # noqa: E402
from idservice.db import db_session, session_factory  # noqa: E402
from idservice.models.base import utcnow  # noqa: E402
from idservice.models.partners import PartnerEvent  # noqa: E402
from idservice.models.residents import ResidentSession  # noqa: E402
from idservice.oauth.clients import register_client  # noqa: E402
from idservice.partners import registry  # noqa: E402
from idservice.services import offers, reevaluation  # noqa: E402
from idservice.services.residents import create_resident  # noqa: E402

BOUND_MS = 5.0
KENT = (
    {"address_line_1": "2 Week Street", "town": "Maidstone", "postcode": "ME14 1RF"},
    {"address_line_1": "3 High Street", "town": "Canterbury", "postcode": "CT1 2JA"},
)
MEDWAY = {"address_line_1": "1 New Road", "town": "Chatham", "postcode": "ME4 4AA"}


@dataclass
class Timings:
    on: list[float] = field(default_factory=list)
    off: list[float] = field(default_factory=list)
    hook: list[float] = field(default_factory=list)

    def line(self, name: str) -> str:
        pairs = [a - b for a, b in zip(self.on, self.off, strict=True)]
        on, off = statistics.median(self.on), statistics.median(self.off)
        added = statistics.median(pairs)
        hook = statistics.median(self.hook)
        verdict = "met" if max(added, hook) <= BOUND_MS else "NOT met"
        return (
            f"{name:<12} {off:>8.1f} ms {on:>8.1f} ms {added:>8.1f} ms {hook:>8.1f} ms"
            f"  (hook {min(self.hook):.1f}-{max(self.hook):.1f})  {verdict}"
        )


# --- the re-evaluation on and off, and timed --------------------------------------------------


class Hook:
    """Swaps the app's ``before_commit`` re-evaluation for a timed one, or for none."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.on = True
        reevaluation.install()
        from sqlalchemy import event

        self._event = event
        event.remove(session_factory, "before_commit", reevaluation._before_commit)
        event.listen(session_factory, "before_commit", self._timed)

    def _timed(self, session: Session) -> None:
        if not self.on:
            return
        session.flush()  # the request's own writes, which the commit flushes either way
        started = time.perf_counter()
        reevaluation._before_commit(session)
        if session is db_session() and not session.in_nested_transaction():
            self.times.append((time.perf_counter() - started) * 1000)

    @contextmanager
    def switched(self, on: bool) -> Iterator[None]:
        self.on = on
        try:
            yield
        finally:
            self.on = True


# --- the data ---------------------------------------------------------------------------------


@dataclass
class Resident:
    id: str
    client: FlaskClient
    moves: int = 0


def make_residents(app: Flask, count: int, tag: str) -> list[Resident]:
    """``count`` residents born in 1950 in Maidstone, each holding an older person's bus pass
    and library membership (granted through the ledger) and signed in on a client of their
    own, from an address of its own so that no rate limit is shared."""
    made = []
    with app.app_context():
        ids = []
        for n in range(count):
            resident = create_resident(
                given_name="Ada",
                family_name=f"Bench {tag} {n}",
                date_of_birth=date(1950, 3, 1 + n % 28),
                address_line_1=f"{n + 1} Sessions Road",
                town="Maidstone",
                postcode="ME14 1XQ",
                email=f"bench.{tag}.{n}.{secrets.token_hex(3)}@example.com",
                actor_type="system",
                actor_id="benchmark",
                channel="system",
            )
            ids.append(resident.id)
        db_session.commit()
        store.append(
            app.extensions["kentcard_engine"],
            [
                LedgerEvent(
                    kind=EventKind.GRANT,
                    resident=rid,
                    service=code,
                    actor="staff-gateway-benchmark",
                    channel=Channel.FACE_TO_FACE,
                    reason="eligible on checked facts",
                    occurred_at=datetime.now(UTC),
                    valid_from=date(2026, 1, 1),
                    valid_until=date(2031, 1, 1),
                )
                for rid in ids
                for code in ("bus-pass-older", "library")
            ],
        )
        for rid in ids:  # granted at the desk: what was offered is taken
            offers.taken(rid, "bus-pass-older")
            offers.taken(rid, "library")
        for n, rid in enumerate(ids):
            sid = secrets.token_urlsafe(32)
            db_session.add(
                ResidentSession(
                    id=sid,
                    resident_id=rid,
                    acr=acr_for(AMR_PASSWORD),
                    amr=list(AMR_PASSWORD),
                    auth_time=utcnow(),
                )
            )
            client = app.test_client()
            client.environ_base["REMOTE_ADDR"] = f"10.{hash(tag) % 200}.{n // 250}.{n % 250 + 1}"
            with client.session_transaction() as sess:
                sess["sid"] = sid
            made.append(Resident(rid, client))
        db_session.commit()
        db_session.remove()
    return made


def connect_bus_operator(app: Flask) -> None:
    with app.app_context():
        registered = register_client(
            name="Kent Bus Operators",
            grant_types=["client_credentials"],
            scope="entitlements:read",
        )
        registry.add_partner(
            registered.client.client_id,
            display_name="Kent Bus Operators",
            contact_email="events@partner.example",
            webhook_url="https://bus.example/events",
            services=["bus-pass-older"],
        )
        db_session.commit()
        db_session.remove()


# --- the requests -----------------------------------------------------------------------------


def change_address(resident: Resident, address: dict[str, str]) -> float:
    """One "Change your address" request; its time in milliseconds."""
    page = resident.client.get("/account/change/address").get_data(as_text=True)
    token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    started = time.perf_counter()
    response = resident.client.post(
        "/account/change/address", data={**address, "address_line_2": "", "csrf_token": token}
    )
    elapsed = (time.perf_counter() - started) * 1000
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    resident.moves += 1
    return elapsed


def run_case(
    hook: Hook, rounds: int, pick: Callable[[int, bool], tuple[Resident, dict[str, str]]]
) -> Timings:
    timings = Timings()
    for n in range(rounds):
        order = (True, False) if n % 2 == 0 else (False, True)
        for on in order:
            resident, address = pick(n, on)
            before = len(hook.times)
            with hook.switched(on):
                elapsed = change_address(resident, address)
            if on:
                assert len(hook.times) == before + 1, "the re-evaluation did not run"
                timings.on.append(elapsed)
                timings.hook.append(hook.times[-1])
            else:
                timings.off.append(elapsed)
    return timings


def check_medway(app: Flask, residents: list[Resident], partner_events_before: int) -> str:
    """What the Medway moves did, counted from the database: proof the work was done."""
    ids = [r.id for r in residents]
    engine = app.extensions["kentcard_engine"]
    with engine.connect() as conn:
        ending = conn.execute(
            select(func.count())
            .select_from(store.STATES)
            .where(
                store.STATES.c.resident.in_(ids),
                store.STATES.c.service == "bus-pass-older",
                store.STATES.c.valid_until < date(2030, 1, 1),
            )
        ).scalar_one()
    with app.app_context():
        events = db_session.scalar(select(func.count()).select_from(PartnerEvent))
        db_session.remove()
    return (
        f"bus passes cut to their grace period: {ending} of {len(ids)} moved with it on; "
        f"partner events written: {(events or 0) - partner_events_before}"
    )


# --- the database -----------------------------------------------------------------------------


@contextmanager
def database(server_url: str, name: str, template: str) -> Iterator[str]:
    """A database ``name`` for this run: a copy of ``template`` if that exists, or empty;
    brought to the migrations' head, and dropped afterwards."""
    admin = create_engine(make_url(server_url), isolation_level="AUTOCOMMIT")
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    try:
        with admin.connect() as conn:
            exists = (
                template
                and conn.execute(
                    text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": template}
                ).first()
            )
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            copy = f' TEMPLATE "{template}"' if exists else ""
            conn.execute(text(f'CREATE DATABASE "{name}"{copy}'))
        print(f"database: a copy of {template}" if exists else "database: empty")
        migrate.upgrade(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def sizes(url: str) -> str:
    engine = create_engine(url)
    with engine.connect() as conn:
        residents = conn.execute(text("SELECT count(*) FROM residents")).scalar_one()
        facts = conn.execute(text("SELECT count(*) FROM resident_facts")).scalar_one()
        held = conn.execute(text("SELECT count(*) FROM entitlement_states")).scalar_one()
    engine.dispose()
    return f"{residents:,} residents, {facts:,} facts, {held:,} entitlements held"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=40, help="pairs of requests per case")
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--db-name", default="kentcard_bench_reevaluation")
    parser.add_argument(
        "--template",
        default="kentcard_population",
        help="the database to copy when it exists ('' for an empty one)",
    )
    args = parser.parse_args()
    logging.disable(logging.INFO)  # without SMTP every email's text is logged at INFO
    with (
        database(args.pg_url, args.db_name, args.template) as url,
        tempfile.TemporaryDirectory(prefix="kentcard-reevaluation-") as folder,
    ):
        settings = Settings.from_env(
            instance_path=Path(folder) / "instance",
            database_url=url,
            issuer="http://127.0.0.1:5000",
            secret_key=secrets.token_urlsafe(32),
            secure_cookies=False,
        )
        app: Flask = create_app(settings)
        hook = Hook()
        connect_bus_operator(app)
        warm = 4
        tag = secrets.token_hex(2)
        staying = make_residents(app, 2 * (warm + args.rounds), f"{tag}k")
        moving = make_residents(app, 2 * (warm + args.rounds), f"{tag}m")
        print(f"tables: {sizes(url)}")

        def within_kent(n: int, on: bool) -> tuple[Resident, dict[str, str]]:
            resident = staying[2 * n + on]
            return resident, KENT[resident.moves % 2]

        def to_medway(n: int, on: bool) -> tuple[Resident, dict[str, str]]:
            return moving[2 * n + on], MEDWAY

        run_case(hook, warm, within_kent)
        run_case(hook, warm, to_medway)
        hook.times.clear()
        with app.app_context():
            events_before = db_session.scalar(select(func.count()).select_from(PartnerEvent)) or 0
            db_session.remove()
        kent = run_case(hook, args.rounds, lambda n, on: within_kent(n + warm, on))
        medway = run_case(hook, args.rounds, lambda n, on: to_medway(n + warm, on))
        print(
            f"{'case':<12} {'without':>11} {'with':>11} {'added':>11} {'hook':>11}"
            f"  medians of {args.rounds} interleaved pairs; bound {BOUND_MS:.0f} ms added"
        )
        print(kent.line("within Kent"))
        print(medway.line("to Medway"))
        moved_on = [moving[2 * (n + warm) + 1] for n in range(args.rounds)]
        print(check_medway(app, moved_on, events_before))


if __name__ == "__main__":
    main()
