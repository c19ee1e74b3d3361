"""Benchmark: the daily entitlements sweep over a Kent-scale database (PostgreSQL).

Builds (once; reused afterwards) the population of ``population.py`` in the database
``kentcard_population``: 1.6 million residents, about 400,000 older person's bus passes,
a full ledger. Each round copies it (``CREATE DATABASE ... TEMPLATE``, so every round
starts from the same never-swept state) and runs ``kentcard entitlements sweep --json``,
the command cron runs, three times on the copy:

1. ``first``: the first sweep ever, on the population's first day: it expires and pauses
   what ended the day before, and invites everyone already inside their renewal window;
2. ``next day``: an ordinary day: one day of expiries and invitations;
3. ``same day``: the next day again, which must change nothing (no ledger event, notice,
   offer or partner event; the counts all zero).

Before the sweeps each copy gets two partners subscribed to ``entitlement-ended`` (bus
and Travel Saver passes; the example leisure offers), so expiries write their outbox
rows as in production.

Each is timed from the command's start to its end (process start-up included). Prints
each sweep's time (median and range over the rounds) and counts, then whether the bound
of issue 11 is met: every sweep within 10 minutes. After the last round it checks the
whole ledger (``kentcard ledger verify``) and that every row of the projection has the
last ledger event of its entitlement (``--no-verify`` skips both).

    make bench-sweep                      # 1.6 million (builds the data the first time)
    .venv/bin/python benchmarks/sweep/run.py --count 20000 --rounds 1
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO))

from benchmarks import kent_scale  # noqa: E402
from benchmarks.serving import BIN, load_line, log  # noqa: E402
from benchmarks.sweep.population import DB_NAME, FIRST_DAY, open_or_populate  # noqa: E402

#: Issue 11: the daily sweep over Kent's residents in at most 10 minutes.
BOUND_SECONDS = 600.0
SWEEPS = ("first", "next day", "same day")
#: Rows a sweep writes; the same day's second sweep must add none.
COUNTED = ("ledger_events", "notices", "service_offers", "partner_events")


def _kentcard(env: dict[str, str], *args: str) -> tuple[float, dict[str, Any]]:
    started = time.monotonic()
    done = subprocess.run(
        [str(BIN / "kentcard"), *args, "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    took = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"kentcard {' '.join(args)} failed: {done.stderr or done.stdout}")
    text = done.stdout.strip()
    answer: dict[str, Any] = json.loads(text if text.startswith("{\n") else text.splitlines()[-1])
    return took, answer


def _rows(url: str) -> dict[str, int]:
    import psycopg
    from psycopg import sql

    counted = {}
    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        for table in COUNTED:
            query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
            row = conn.execute(query).fetchone()
            counted[table] = int(row[0]) if row else 0
    return counted


#: Partners told when an entitlement ends (``entitlement-ended`` Security Event Tokens, one
#: outbox row per holder and partner): the bus operators' scheme and the leisure trust of
#: the example offers.
PARTNERS = (
    (
        "Example bus operators",
        "bus-pass-older bus-pass-disabled bus-pass-companion "
        "kent-travel-saver 16-plus-travel-saver",
    ),
    ("Example Leisure Trust", "partner-leisure-60-plus partner-young-person-leisure"),
)


def add_partners(env: dict[str, str]) -> None:
    """Register the partners (``kentcard clients create --partner``), as staff would."""
    for name, services in PARTNERS:
        options = [f"--service={code}" for code in services.split()]
        _kentcard(
            env,
            "clients",
            "create",
            "--name",
            name,
            "--partner",
            "--contact-email",
            "events@partner.example",
            "--webhook-url",
            "https://partner.example/kentcard-events",
            "--event",
            "entitlement-ended",
            *options,
        )


def _stale_states(url: str) -> int:
    """Rows of the projection whose ``last_seq`` is not the last event of their
    (resident, service) in the ledger: 0 when the sweeps kept the two together."""
    import psycopg

    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        row = conn.execute(
            "SELECT count(*) FROM entitlement_states s WHERE s.last_seq <> "
            "(SELECT max(e.seq) FROM ledger_events e "
            "WHERE e.resident = s.resident AND e.service = s.service)"
        ).fetchone()
    return int(row[0]) if row else -1


def one_round(args: argparse.Namespace, env: dict[str, str], first: date) -> list[dict[str, Any]]:
    """Copy the built database and sweep the copy three times; what each sweep did."""
    run_db = args.db_name + "_run"
    started = time.monotonic()
    url = kent_scale.recreate(args.pg_url, run_db, Path(args.instance), template=args.db_name)
    log(f"copied {args.db_name} to {run_db} in {time.monotonic() - started:.0f} s")
    env = {**env, "KENTCARD_DATABASE_URL": url}
    add_partners(env)
    results = []
    days = (first, first + timedelta(days=1), first + timedelta(days=1))
    for name, day in zip(SWEEPS, days, strict=True):
        before = _rows(url)
        took, report = _kentcard(env, "entitlements", "sweep", "--on", day.isoformat())
        after = _rows(url)
        added = {table: after[table] - before[table] for table in COUNTED}
        totals = report["totals"]
        log(
            f"  {name:8} {day}: {took:7.1f} s; expired {totals['expired']:,}, paused "
            f"{totals['paused']:,}, invited {totals['renewal_invitations']:,}, offered "
            f"{totals['offered']:,}, ended {totals['ended']:,}, decided again "
            f"{report['residents_decided']:,}; rows added {added}"
        )
        results.append({"name": name, "seconds": took, "report": report, "added": added})
    again = results[2]
    if any(again["added"].values()) or any(again["report"]["totals"].values()):
        raise SystemExit("the same day's second sweep changed something: see the counts above")
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--count", type=int, default=1_600_000)
    add("--rounds", type=int, default=3)
    add("--first-day", type=date.fromisoformat, default=FIRST_DAY)
    add("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    add("--db-name", default=DB_NAME)
    add("--instance", default=str(Path(tempfile.gettempdir()) / "kentcard-sweep-population"))
    add("--rebuild", action="store_true", help="build the data afresh")
    add(
        "--no-verify",
        dest="verify",
        action="store_false",
        help="skip checking the ledger and the projection after the last round",
    )
    args = parser.parse_args()
    log(f"{load_line()} at the start")
    started = time.monotonic()
    _, population = open_or_populate(
        args.pg_url,
        Path(args.instance),
        args.count,
        args.db_name,
        args.first_day,
        args.rebuild,
        progress=log,
    )
    log(f"data ready in {time.monotonic() - started:.0f} s")
    env = {**os.environ, "KENTCARD_INSTANCE_PATH": args.instance}
    rounds = []
    for number in range(1, args.rounds + 1):
        log(f"round {number} of {args.rounds}")
        rounds.append(one_round(args, env, population.first_day))
    if args.verify:
        url = kent_scale.database_url(args.pg_url, args.db_name + "_run")
        took, report = _kentcard({**env, "KENTCARD_DATABASE_URL": url}, "ledger", "verify")
        log(f"ledger verify after the sweeps: {report} ({took:.0f} s)")
        if not report["ok"]:
            return 1
        stale = _stale_states(url)
        log(f"projection rows whose last event is not the ledger's last for them: {stale}")
        if stale:
            return 1
    print(f"\nDaily sweep, {population.count:,} residents, {args.rounds} round(s), {load_line()}")
    worst = 0.0
    for index, name in enumerate(SWEEPS):
        times = [r[index]["seconds"] for r in rounds]
        worst = max(worst, *times)
        totals = rounds[-1][index]["report"]["totals"]
        print(
            f"  {name:8}: median {statistics.median(times):7.1f} s (range {min(times):.1f}"
            f"-{max(times):.1f}); expired {totals['expired']:,}, paused {totals['paused']:,}, "
            f"invited {totals['renewal_invitations']:,}, offered {totals['offered']:,}, "
            f"ended {totals['ended']:,}, notices {rounds[-1][index]['added']['notices']:,}, "
            f"partner events {rounds[-1][index]['added']['partner_events']:,}"
        )
    met = "met" if worst <= BOUND_SECONDS else "NOT met"
    print(f"  bound: every sweep within {BOUND_SECONDS / 60:.0f} minutes: {met} ({worst:.1f} s)")
    return 0 if worst <= BOUND_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
