"""Partner webhook deliveries per second: the real worker against a local receiver.

The outbox is filled with ``--events`` rows for one partner (as life events would write
them); then the delivery worker (``idservice.partners.delivery.Worker``, what
``kentcard events deliver --once`` runs) claims them in batches, signs each SET with the
service's ES256 key, POSTs it over keep-alive HTTP to a receiver running in its own
process on a random port (standing in for the partner's server), and records the
results. A round is timed from the first claim to the last result committed; between
rounds the rows are put back to pending. The figure is the median of the rounds.

    .venv/bin/python benchmarks/webhook_delivery/run.py [--events 5000] [--rounds 5]
        [--backend postgresql|sqlite] [--batch 200] [--concurrency 16]

PostgreSQL uses a dedicated database ``kentcard_webhook_bench`` on 127.0.0.1:5432,
dropped and recreated each run; SQLite a file in a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import create_engine, insert, make_url, select, text, update

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from idservice import create_app, migrate  # noqa: E402
from idservice.config import Settings  # noqa: E402
from idservice.db import db_session  # noqa: E402
from idservice.models.partners import PartnerEvent  # noqa: E402
from idservice.oauth.clients import register_client  # noqa: E402
from idservice.partners import registry  # noqa: E402
from idservice.partners.delivery import Backoff, Worker  # noqa: E402

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PG_DB = "kentcard_webhook_bench"
TARGET = 500.0
EVENTS = PartnerEvent.__table__


@contextmanager
def database(backend: str, server_url: str) -> Iterator[str]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="kentcard-webhook-bench-") as folder:
            yield f"sqlite:///{Path(folder) / 'bench.db'}"
        return
    admin = create_engine(make_url(server_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{PG_DB}"'))
    try:
        yield make_url(server_url).set(database=PG_DB).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def receiver() -> Iterator[str]:
    """The partner's webhook in its own process (it would be another machine)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.partners.receiver"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        if not url.startswith("http://127.0.0.1:"):
            raise SystemExit(f"the receiver did not start: {url!r}")
        yield url
    finally:
        process.terminate()
        process.wait(10)


def received(url: str) -> int:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - our own loopback
        return int(response.read())


def fill(app: object, url: str, events: int) -> None:
    with app.app_context():  # type: ignore[attr-defined]
        client = register_client(
            name="Benchmark Partner", grant_types=["client_credentials"], scope="entitlements:read"
        ).client
        partner = registry.add_partner(
            client.client_id,
            display_name="Benchmark Partner",
            contact_email="bench@partner.example",
            webhook_url=url,
            services=["bus-pass-older"],
        )
        db_session.commit()
        today = date.today().isoformat()
        rows = [
            {
                "jti": uuid.uuid4().hex,
                "partner_id": partner.id,
                "event_type": "entitlement-ended",
                "subject": secrets.token_urlsafe(32),
                "payload": {"service": "bus-pass-older", "ended_on": today, "reason": "death"},
                "created_at": datetime.now(UTC),
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": datetime.now(UTC),
            }
            for _ in range(events)
        ]
        for start in range(0, len(rows), 5000):
            db_session.execute(insert(EVENTS), rows[start : start + 5000])
        db_session.commit()
        db_session.remove()


def reset(engine: object) -> None:
    with engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(
            update(EVENTS).values(
                status="pending",
                attempts=0,
                lease_until=None,
                delivered_at=None,
                next_attempt_at=datetime.now(UTC),
            )
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--backend", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--pg-url", default=PG_URL)
    parser.add_argument("--require-target", action="store_true", help=f"exit 1 below {TARGET}/s")
    args = parser.parse_args()
    if not 1 <= args.rounds <= 50 or not 1 <= args.events <= 1_000_000:
        parser.error("--rounds 1..50, --events 1..1000000")

    with (
        database(args.backend, args.pg_url) as url,
        receiver() as hook,
        tempfile.TemporaryDirectory(prefix="kentcard-webhook-bench-instance-") as instance,
    ):
        migrate.upgrade(url)
        settings = Settings.from_env(
            instance_path=Path(instance),
            database_url=url,
            issuer="http://127.0.0.1:5000",
            secret_key=secrets.token_urlsafe(32),
            secure_cookies=False,
            testing=True,
        )
        app = create_app(settings)
        fill(app, hook, args.events)
        engine = app.extensions["kentcard_engine"]
        worker = Worker(
            engine=engine,
            keys=app.extensions["kentcard_oauth_keys"],
            issuer=settings.issuer,
            batch=args.batch,
            concurrency=args.concurrency,
            timeout=10.0,
            backoff=Backoff(max_attempts=12),
        )
        rates = []
        try:
            worker.keys.signing_key()  # the first key is made outside the timing
            for number in range(1, args.rounds + 1):
                reset(engine)
                started = time.perf_counter()
                total = worker.run(once=True)
                elapsed = time.perf_counter() - started
                if total.delivered != args.events:
                    raise SystemExit(
                        f"round {number}: delivered {total.delivered} of {args.events} "
                        f"({total.retrying} to retry, {total.dead} dead)"
                    )
                rate = total.delivered / elapsed
                rates.append(rate)
                print(
                    f"round {number}: {total.delivered} in {elapsed:.2f} s = {rate:,.0f}/s",
                    file=sys.stderr,
                )
        finally:
            worker.close()
        with engine.connect() as conn:
            pending = conn.scalar(
                select(EVENTS.c.id).where(EVENTS.c.status != "delivered").limit(1)
            )
        got = received(hook.rsplit("/", 1)[0] + "/count")
        median = statistics.median(rates)
        print(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
        print(
            f"conditions: {args.backend}, {args.events} events x {args.rounds} rounds, "
            f"batch {args.batch}, {args.concurrency} sender threads, receiver in its own "
            f"process on 127.0.0.1, {os.cpu_count()} CPUs, Python {platform.python_version()}"
        )
        print(f"every row delivered: {pending is None}; tokens received: {got}")
        print(f"rounds (deliveries/s): {', '.join(f'{r:,.0f}' for r in rates)}")
        print(f"median: {median:,.0f} deliveries/s (target >= {TARGET:,.0f})")
        if args.require_target and median < TARGET:
            sys.exit(1)


if __name__ == "__main__":
    main()
