"""Ledger append throughput (batched) and full verification time for 1 million events.

A batch job appends through the real ledger API (``entitlements.ledger.store.append``:
head lock, hashes, chain, projection upsert, head update, commit per batch), signs tree
heads as the hourly job would, then ``verify`` checks every event, link and tree head.
SQLite uses a file in a temporary folder; PostgreSQL a dedicated database
``kentcard_ledger_bench`` on 127.0.0.1:5432, dropped and recreated each run.

    .venv/bin/python benchmarks/ledger/run.py [--events 1000000] [--batch 10000]
        [--backend sqlite|postgresql|both] [--verify-runs 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, create_engine, make_url, text

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from entitlements.ledger.events import Channel, EventKind, LedgerEvent  # noqa: E402
from entitlements.ledger.signing import SigningKey, load_or_create_key  # noqa: E402
from entitlements.ledger.store import append, sign_tree_head  # noqa: E402
from entitlements.ledger.verify import verify  # noqa: E402
from idservice import migrate  # noqa: E402
from idservice.db import make_engine  # noqa: E402

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PG_DB = "kentcard_ledger_bench"
APPENDS_PER_SECOND_TARGET = 5_000
VERIFY_SECONDS_TARGET = 10.0
SERVICES = ("library", "bus-pass-older", "bus-pass-disabled", "kent-travel-saver", "blue-badge")
KINDS = (EventKind.GRANT,) * 7 + (EventKind.RENEW, EventKind.SUSPEND, EventKind.REVOKE)
START = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)


def make_event(i: int, residents: int) -> LedgerEvent:
    """A realistic event: pseudonymous resident, a catalogue service, evidence reference."""
    kind = KINDS[i % len(KINDS)]
    dated = kind in (EventKind.GRANT, EventKind.RENEW)
    day = date(2026, 1, 1) + timedelta(days=i % 365)
    return LedgerEvent(
        kind=kind,
        resident=f"res-{(i * 7919) % residents:010d}",
        service=SERVICES[i % len(SERVICES)],
        actor=f"staff-gateway-{i % 40:02d}" if i % 3 else "system",
        channel=Channel.FACE_TO_FACE if i % 3 else Channel.SYSTEM,
        reason="eligible on checked facts" if dated else "status change requested",
        occurred_at=START + timedelta(milliseconds=i * 250),
        evidence=(f"evidence:{i:09d}",) if dated else (),
        valid_from=day if dated else None,
        valid_until=day + timedelta(days=5 * 365) if dated else None,
    )


@contextmanager
def sqlite_database() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="kentcard-ledger-bench-") as folder:
        yield f"sqlite:///{Path(folder) / 'ledger.db'}"


@contextmanager
def postgresql_database(server_url: str) -> Iterator[str]:
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


def fill(engine: Engine, key: SigningKey, events: int, batch: int, residents: int) -> list[float]:
    """Append ``events`` in batches; returns appends per second of each batch.

    Events are built before the clock starts (a batch job has them from its input); the
    timed part is exactly ``append``. A tree head is signed at the half and at the end,
    outside the timing, so verification also checks signed heads.
    """
    rates: list[float] = []
    done = 0
    signed_half = False
    while done < events:
        size = min(batch, events - done)
        chunk = [make_event(done + n, residents) for n in range(size)]
        started = time.perf_counter()
        append(engine, chunk)
        rates.append(size / (time.perf_counter() - started))
        done += size
        if not signed_half and done >= events // 2:
            sign_tree_head(engine, key)
            signed_half = True
        if len(rates) % 20 == 0:
            print(f"    {done:,} events, last batch {rates[-1]:,.0f}/s", file=sys.stderr)
    sign_tree_head(engine, key)
    return rates


def run_backend(name: str, url: str, args: argparse.Namespace, key: SigningKey) -> bool:
    print(f"  [{name}] migrating {url.split('@')[-1]}", file=sys.stderr)
    migrate.upgrade(url)
    engine = make_engine(url)
    try:
        fill_started = time.perf_counter()
        rates = fill(engine, key, args.events, args.batch, args.residents)
        fill_seconds = time.perf_counter() - fill_started
        verify_seconds: list[float] = []
        verify_cpu: list[float] = []
        for _ in range(args.verify_runs):
            started, cpu = time.perf_counter(), time.process_time()
            report = verify(engine, {key.key_id: key.public_key})
            verify_seconds.append(time.perf_counter() - started)
            verify_cpu.append(time.process_time() - cpu)
            if not report.ok or report.size != args.events:
                print(f"  [{name}] verification failed: {report.as_dict()}", file=sys.stderr)
                return False
        heads = report.tree_heads_checked
    finally:
        engine.dispose()
    ordered = sorted(rates)
    median_rate = statistics.median(rates)
    median_verify = statistics.median(verify_seconds)
    print(f"{name}: {args.events:,} events in {len(rates)} batches of {args.batch:,}")
    print(
        f"  append: median {median_rate:,.0f} events/s per batch "
        f"(slowest {ordered[0]:,.0f}, fastest {ordered[-1]:,.0f}); "
        f"whole fill {args.events / fill_seconds:,.0f}/s incl. event building and signing"
    )
    print(
        f"  verify: median {median_verify:.2f} s over {len(verify_seconds)} runs "
        f"({', '.join(f'{s:.2f}' for s in verify_seconds)}), {heads} signed tree heads checked"
    )
    print(
        f"  verify client CPU (this process): median {statistics.median(verify_cpu):.2f} s; "
        f"load average now {', '.join(f'{x:.1f}' for x in os.getloadavg())}"
    )
    met = median_rate >= APPENDS_PER_SECOND_TARGET and median_verify <= VERIFY_SECONDS_TARGET
    print(
        f"  targets (>= {APPENDS_PER_SECOND_TARGET:,}/s batched, verify <= "
        f"{VERIFY_SECONDS_TARGET:g} s for 1,000,000):",
        "met" if met else "NOT met",
    )
    return met


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=10_000, help="events per append call")
    parser.add_argument("--residents", type=int, default=250_000, help="distinct residents")
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--pg-url", default=PG_URL, help="maintenance database URL")
    parser.add_argument("--verify-runs", type=int, default=3)
    args = parser.parse_args()
    if args.events < 1 or args.batch < 1 or args.verify_runs < 1:
        parser.error("--events, --batch and --verify-runs must be positive")
    print(
        f"Ledger benchmark on {platform.node()}: {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, {platform.machine()}"
    )
    ok = True
    with tempfile.TemporaryDirectory(prefix="kentcard-ledger-key-") as folder:
        key = load_or_create_key(Path(folder))
        if args.backend in ("sqlite", "both"):
            with sqlite_database() as url:
                ok = run_backend("SQLite", url, args, key) and ok
        if args.backend in ("postgresql", "both"):
            with postgresql_database(args.pg_url) as url:
                ok = run_backend("PostgreSQL", url, args, key) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
