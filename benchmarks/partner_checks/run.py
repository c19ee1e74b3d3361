"""Partner entitlement checks per second and p99 latency at Kent scale (issue 6).

PostgreSQL holds 1.6 million residents with an active Kent Card each and their
entitlements (:mod:`benchmarks.kent_scale`: the same database as the tap benchmark, built
once and reused), and every resident's pairwise subject for the bench partner's sector,
as if each had signed in to that partner once. The app is served by the README's
production command (granian; :mod:`benchmarks.serving`). The partner is registered as
``kentcard clients create --partner`` does it, for the checks of ``bus-pass-older`` and
``library``, and takes a client credentials token with both check scopes. ``wrk`` sends
checks for random residents from a file made before the clock starts: 80 % by card
number, 20 % by the partner's pairwise subject, each service half the time. Two loads per
round:

* **throughput**: ``--connections`` connections as fast as they go (saturation);
* **latency at a rate**: ``--rate-connections`` connections, each pausing so that together
  they offer about ``--rate`` checks/s: the p99 a partner sees at that load.

``--repo PATH`` serves another checkout's code with its ``.venv``; ``--before PATH``
serves that checkout beside it on the same data and partner and measures both in every
round (which goes first alternates), then prints the medians of both and the ratio
after/before.

    .venv/bin/python benchmarks/partner_checks/run.py [--count 1600000] [--rounds 3] \
        [--repo PATH] [--before PATH]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO))

from benchmarks import serving  # noqa: E402
from benchmarks.kent_scale import (  # noqa: E402
    KentScale,
    ensure_pairwise_subjects,
    open_or_populate,
)
from benchmarks.serving import CpuMeter, Result, log, post  # noqa: E402

LUA = HERE / "checks.lua"
HOST = serving.HOST
PARTNER = "bench partner"
#: A fixed sector, so the 1.6 million pairwise subjects survive the client made afresh
#: each run (without ``--sector`` a client's sector is ``client:<its id>``).
SECTOR = "partner-bench.kentcard.example"
SERVICES = ("bus-pass-older", "library")
SCOPE = " ".join(f"entitlements:{service}:check" for service in SERVICES)
BY_SUBJECT_SHARE = 0.2
#: What kent_scale gives library members (the bus pass has no end date).
LIBRARY_UNTIL = "2031-12-31"
#: Issue 6's target: checks/s, and p99 in ms at that rate.
TARGET_RATE, TARGET_P99 = 1500, 20.0

SubjectOf = Callable[[str], str]


# -- the database ----------------------------------------------------------------------------


def prepare(args: argparse.Namespace) -> tuple[str, KentScale]:
    import psycopg

    url, scale = open_or_populate(
        args.pg_url, args.db_name, Path(args.instance), args.count, args.rebuild, progress=log
    )
    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        # Checks of earlier runs and their audit records; each run starts alike.
        conn.execute("TRUNCATE partner_queries")
        conn.execute(
            "DELETE FROM audit_records WHERE action = 'partner.entitlement_checked' "
            "AND actor_type = 'client' AND details->>'client_name' = %s",
            (PARTNER,),
        )
        conn.execute("DELETE FROM oauth_clients WHERE name = %s", (PARTNER,))  # and partner row
        # Signing keys are encrypted with the secret of the run that made them.
        conn.execute("DELETE FROM oauth_tokens")
        conn.execute("DELETE FROM oauth_signing_keys")
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
        # What those DELETEs left behind: without it every run wrote into a larger table
        # and indexes than the last (600,000 dead audit rows after a morning's runs).
        conn.execute("VACUUM (ANALYZE) audit_records")
    return url, scale


def subject_function() -> SubjectOf:
    """The partner's ``sub`` for a resident id, as the server computes it: its settings
    (secret key or pairwise salt) come from the same environment and instance folder."""
    from idservice.config import Settings
    from idservice.oauth.claims import pairwise_sub

    return functools.partial(pairwise_sub, Settings.from_env(), SECTOR)


# -- checks ----------------------------------------------------------------------------------


def request(
    scale: KentScale, subject_of: SubjectOf, i: int, service: str, by_subject: bool
) -> tuple[str, str]:
    """Path and JSON body of a check of resident ``i``."""
    if by_subject:
        kind, body = "by-subject", {"subject": subject_of(scale.resident_id(i))}
    else:
        kind, body = "by-card-number", {"card_number": scale.card_number(i)}
    return f"/api/v1/checks/{service}/{kind}", json.dumps(body, separators=(",", ":"))


def expected(scale: KentScale, i: int, service: str) -> dict[str, Any]:
    """The whole answer for resident ``i`` (nobody consented to share more with us)."""
    held = service in scale.services(i)
    return {
        "service": service,
        "entitled": held,
        "valid_until": LIBRARY_UNTIL if held and service == "library" else None,
        "reason": "entitled" if held else "not_entitled",
    }


def make_requests(
    scale: KentScale, subject_of: SubjectOf, count: int, path: Path, rng: random.Random
) -> float:
    """``count`` checks of random residents into ``path``; returns the share entitled."""
    lines, entitled = [], 0
    for _ in range(count):
        i = rng.randrange(scale.count)
        service = rng.choice(SERVICES)
        target, body = request(scale, subject_of, i, service, rng.random() < BY_SUBJECT_SHARE)
        lines.append(f"{target}\t{body}")
        entitled += service in scale.services(i)
    path.write_text("\n".join(lines) + "\n")
    return entitled / count


def check_answers(base: str, token: str, scale: KentScale, subject_of: SubjectOf) -> int:
    """Each kind of request answers 200 with the expected JSON before any load; a made-up
    subject and a wrong check digit are unknown, a service the token lacks is refused."""
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    last_older = (scale.count - 1) // 5 * 5  # holds the bus pass, as every fifth does
    asked = 0
    for i, service in (
        (0, "bus-pass-older"),
        (1, "bus-pass-older"),
        (1, "library"),
        (9, "library"),
        (last_older, "bus-pass-older"),
        (last_older + 1 if last_older + 1 < scale.count else 1, "library"),
    ):
        for by_subject in (False, True):
            target, body = request(scale, subject_of, i, service, by_subject)
            status, answer = post(base + target, body.encode(), headers)
            asked += 1
            if status != 200 or answer != expected(scale, i, service):
                raise SystemExit(
                    f"{target} for resident {i}: expected 200 {expected(scale, i, service)}, "
                    f"got {status} {answer}"
                )
    unknown = {"entitled": False, "valid_until": None, "reason": "unknown"}
    wrong_digit = scale.card_number(0)[:-1] + str((int(scale.card_number(0)[-1]) + 1) % 10)
    for target, fields in (
        ("/api/v1/checks/library/by-subject", {"subject": "A" * 43}),
        ("/api/v1/checks/library/by-card-number", {"card_number": wrong_digit}),
    ):
        status, answer = post(base + target, json.dumps(fields).encode(), headers)
        asked += 1
        if status != 200 or answer != {"service": "library", **unknown}:
            raise SystemExit(f"{target} {fields}: expected unknown, got {status} {answer}")
    target = "/api/v1/checks/blue-badge/by-card-number"
    status, answer = post(base + target, json.dumps({"card_number": "0"}).encode(), headers)
    if status != 403 or answer.get("error") != "insufficient_scope":
        raise SystemExit(f"{target} without its scope: expected 403, got {status} {answer}")
    log(
        "answers checked: entitled and not, by card number and by subject, for both "
        "services; a made-up subject and a wrong check digit unknown; blue-badge refused"
    )
    return asked


# -- load ------------------------------------------------------------------------------------


def run_wrk(
    url: str,
    token: str,
    checks: Path,
    offset: int,
    connections: int,
    duration: int,
    delay_ms: float,
    meter: CpuMeter | None = None,
) -> Result:
    result = serving.run_wrk(
        LUA,
        url,
        {
            "CHECK_REQUESTS": str(checks),
            "CHECK_TOKEN": token,
            "CHECK_OFFSET": str(offset),
            "CHECK_DELAY_MS": str(delay_ms),
        },
        connections,
        duration,
        meter,
        bad_hint="; 429 is the partner API's rate limit per client and worker",
    )
    if result.found["bad_body"]:
        raise SystemExit(f"{result.found['bad_body']} answers had no entitled true or false")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    serving.kent_scale_arguments(parser, rate=serving.offered_rate(TARGET_RATE))
    parser.add_argument(
        "--distinct", type=int, default=100_000, help="checks in the file wrk cycles through"
    )
    args = parser.parse_args()
    if not 0 <= args.rounds <= 50 or not 1 <= args.duration <= 120 or not 1 <= args.warmup <= 120:
        parser.error("--rounds at most 50, --duration and --warmup 1 to 120 s")
    if args.distinct < 1000:
        parser.error("--distinct at least 1000")
    if shutil.which("wrk") is None:
        print(
            "wrk is missing: run `bash scripts/bench-deps.sh`"
            " (`make bench-taps` and `make bench-checks` do).",
            file=sys.stderr,
        )
        return 2
    codes = serving.checkouts(args)
    log(f"{serving.load_line()} at the start")
    url, scale = prepare(args)
    port = serving.free_port()
    base = f"http://{HOST}:{port}"
    workdir = Path(tempfile.mkdtemp(prefix="kentcard-bench-checks-"))
    log(f"logs and checks in {workdir}")
    # This process computes pairwise subjects with the server's settings: the same
    # environment for both.
    os.environ.update(
        {
            "KENTCARD_DATABASE_URL": url,
            "KENTCARD_INSTANCE_PATH": str(scale.instance),
            "KENTCARD_ISSUER": base,
            **dict(kv.split("=", 1) for kv in args.server_env),
        }
    )
    env = dict(os.environ)
    subject_of = subject_function()
    started = time.monotonic()
    ensure_pairwise_subjects(url, scale, SECTOR, subject_of, progress=log)
    log(f"pairwise subjects for {SECTOR} ready in {time.monotonic() - started:.0f} s")
    client = serving.create_client(
        env,
        "--partner",
        "--name",
        PARTNER,
        "--contact-email",
        "bench@partner-bench.kentcard.example",
        "--sector",
        SECTOR,
        *(word for service in SERVICES for word in ("--check", service)),
        code=codes[0][1],
    )
    counted = 0
    with serving.serve(args, codes, env, port, workdir) as servers:
        token = serving.client_credentials_token(base, client, SCOPE)
        for served in servers:
            if args.before:
                log(f"{served.name}: {served.command}")
            counted += check_answers(served.base, token, scale, subject_of)
        if args.check:
            return 0
        checks = workdir / "checks.tsv"
        share = make_requests(scale, subject_of, args.distinct, checks, random.Random(20261204))
        delay, answered = measure(args, servers, client, checks)
        counted += answered
    import psycopg

    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        recorded = conn.execute("SELECT count(*) FROM partner_queries").fetchone()
    print(f"date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, {serving.load_line()}")
    for served in servers:
        print(
            f"{serving.tag(served, servers)}server: {served.command}; PostgreSQL "
            f"{args.db_name}, {scale.count:,} residents and cards, {scale.count:,} pairwise "
            f"subjects for {SECTOR}"
        )
    print(
        f"checks: {args.distinct:,} random (80 % by card number, 20 % by subject; "
        f"{', '.join(SERVICES)} alike; {share:.0%} entitled)"
    )
    print(
        f"checks recorded by the server{'s' if args.before else ''}: "
        f"{recorded[0] if recorded else 0} "
        f"(answers counted: {counted}; a few more in flight when a load stopped are fine)"
    )
    if not args.rounds:
        return 0
    for served in servers:
        tag = serving.tag(served, servers)
        throughput, _, line = serving.summary_line(
            f"{tag}throughput (wrk -t1 -c{args.connections}, pause 0 ms)",
            "checks",
            served.results["throughput"],
        )
        print(line)
        at_rate, p99, line = serving.summary_line(
            f"{tag}at ~{args.rate}/s (wrk -t1 -c{args.rate_connections}, pause {delay} ms)",
            "checks",
            served.results["at rate"],
        )
        print(line)
        target = serving.target_line(6, "checks", TARGET_RATE, TARGET_P99, throughput, at_rate, p99)
        print(f"{tag}{target}")
    if args.before:
        print("\n".join(serving.before_after_lines("checks", servers)))
    return 0


def measure(
    args: argparse.Namespace, servers: list[serving.Served], client: dict[str, Any], checks: Path
) -> tuple[float, int]:
    """Warm each server up, then measure the rounds (both servers in each, the order
    alternating); returns the pause of the rate load and the answers wrk counted.

    Each load starts in the file of checks where the last stopped, whichever server it
    went to: the two ask about different random residents rather than the second asking
    about those the first just brought into PostgreSQL's cache.
    """
    nominal = serving.pause_ms(args.rate_connections, args.rate)
    offset = 0
    pauses = []
    for served in servers:
        # Warm-up: first as fast as it goes, then at the nominal pause: what that fell
        # short of --rate sets the pause (each connection also waits for its answer).
        token = serving.client_credentials_token(servers[0].base, client, SCOPE)
        for connections, pause in ((args.connections, 0.0), (args.rate_connections, nominal)):
            warm = run_wrk(served.base, token, checks, offset, connections, args.warmup, pause)
            offset += warm.requests
        pauses.append(serving.paced_pause(nominal, args.rate_connections, warm.rate, args.rate))
        log(
            f"{serving.tag(served, servers)}warmed up: {warm.rate:.0f} checks/s at a {nominal} "
            f"ms pause, mean latency {warm.found['latency_us']['mean'] / 1000:.1f} ms: pause "
            f"{pauses[-1]} ms"
        )
        served.meter = CpuMeter(served.process.pid, args.pg_url, args.db_name)
    # One pause for both servers, so both are offered the same load.
    delay = round(statistics.mean(pauses), 1)
    log(f"pause {delay} ms from now on")
    for number in range(1, args.rounds + 1):
        for kind, connections, pause in (
            ("throughput", args.connections, 0.0),
            ("at rate", args.rate_connections, delay),
        ):
            for served in serving.interleaved(servers, number):
                # A fresh token for each load (a long run outlasts one), good at both.
                token = serving.client_credentials_token(servers[0].base, client, SCOPE)
                result = run_wrk(
                    served.base,
                    token,
                    checks,
                    offset,
                    connections,
                    args.duration,
                    pause,
                    served.meter,
                )
                offset += result.requests
                served.results[kind].append(result)
                log(
                    f"round {number} {serving.tag(served, servers)}{kind}: {result.rate:.0f} "
                    f"checks/s, p50 {result.p50:.1f} ms, p99 {result.p99:.1f} ms; CPU per "
                    f"check: server {result.server_ms:.2f} ms, PostgreSQL "
                    f"{result.postgres_ms:.2f} ms (wrk {result.wrk_cpu:.0%} of a core; entitled "
                    f"{result.found['entitled'] / max(1, result.requests):.0%}); "
                    f"{serving.load_line()}"
                )
    return delay, offset


if __name__ == "__main__":
    sys.exit(main())
