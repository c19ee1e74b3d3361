"""Online tap decisions per second and p99 latency: POST /api/v1/taps at Kent scale.

PostgreSQL holds 1.6 million residents with an active Kent Card each and their
entitlements (:mod:`benchmarks.kent_scale`, built once and reused). The app is served by
the production command in the README (granian; :mod:`benchmarks.serving`, ``--server
gunicorn`` for gthread workers as the figures before the switch). ``wrk`` sends
pre-generated tap bodies: each is a genuine card answer (certificate from the issuer key,
signature by the card's key) over a fresh timestamped challenge, for a random card, in
transport (80 %) or library mode, and each body is sent once, so the replay and time
checks run as in production. Two loads per round:

* **throughput**: ``--connections`` connections as fast as they go (saturation);
* **latency at a rate**: ``--rate-connections`` connections, each pausing so that together
  they offer about ``--rate`` taps/s: the p99 a reader sees at that load.

``--repo PATH`` serves another checkout's code with its ``.venv``; ``--before PATH``
serves that checkout beside it on the same data and token and measures both in every
round (which goes first alternates), fresh bodies for each load, then prints the medians
of both and the ratio after/before.

    .venv/bin/python benchmarks/online_taps/run.py [--count 1600000] [--rounds 3] \
        [--repo PATH] [--before PATH]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO))

from benchmarks import serving  # noqa: E402
from benchmarks.kent_scale import KentScale, open_or_populate  # noqa: E402
from benchmarks.serving import CpuMeter, Result, log, post  # noqa: E402
from cardio.verify import new_challenge  # noqa: E402

LUA = HERE / "taps.lua"
HOST = serving.HOST
#: Issue 5: at least 1,000 taps/s, p99 at most 25 ms at that rate.
TARGET_RATE, TARGET_P99 = 1000, 25.0


# -- the database ----------------------------------------------------------------------------


def prepare(args: argparse.Namespace) -> tuple[str, KentScale]:
    import psycopg

    url, scale = open_or_populate(
        args.pg_url, args.db_name, Path(args.instance), args.count, args.rebuild, progress=log
    )
    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        conn.execute("TRUNCATE taps")  # taps of earlier runs; each run starts alike
        conn.execute("DELETE FROM oauth_clients WHERE name = 'bench reader'")
        # Signing keys are encrypted with the secret of the run that made them.
        conn.execute("DELETE FROM oauth_tokens")
        conn.execute("DELETE FROM oauth_signing_keys")
    return url, scale


# -- tap bodies ------------------------------------------------------------------------------

_SCALE: KentScale | None = None


def _body(job: tuple[int, str, float]) -> str:
    i, mode, now = job
    assert _SCALE is not None
    challenge = new_challenge(now)
    return json.dumps(
        {
            "select_answer": _SCALE.select_answer(i).hex(),
            "challenge": challenge.hex(),
            "signature": _SCALE.tap_answer(i, challenge).hex(),
            "mode": mode,
        },
        separators=(",", ":"),
    )


def make_bodies(
    scale: KentScale, count: int, path: Path, rng: random.Random, ahead: float = 0.0
) -> float:
    """``count`` signed tap bodies for random cards; returns the seconds it took.

    Challenges carry the time ``ahead`` seconds from now (about when making the bodies will
    have finished and wrk starts), so the whole run falls inside the service's window.
    """
    global _SCALE
    _SCALE = scale
    started = time.monotonic()
    now = time.time() + ahead
    jobs = [
        (rng.randrange(scale.count), "transport" if rng.random() < 0.8 else "library", now)
        for _ in range(count)
    ]
    with multiprocessing.get_context("fork").Pool(2) as pool:
        lines = pool.map(_body, jobs, chunksize=500)
    path.write_text("\n".join(lines) + "\n")
    return time.monotonic() - started


# -- load ------------------------------------------------------------------------------------


def run_wrk(
    url: str,
    token: str,
    bodies: Path,
    connections: int,
    duration: int,
    delay_ms: float,
    meter: CpuMeter | None = None,
) -> Result:
    return serving.run_wrk(
        LUA,
        url,
        {"TAP_BODIES": str(bodies), "TAP_TOKEN": token, "TAP_DELAY_MS": str(delay_ms)},
        connections,
        duration,
        meter,
        bad_hint="; 404 means the bodies ran out: raise --bodies-per-second",
    )


# -- checks ----------------------------------------------------------------------------------


def check_decisions(base: str, token: str, scale: KentScale) -> None:
    """A few taps whose decisions are known; a replay and a stale challenge are refused."""
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    global _SCALE
    _SCALE = scale
    for i, mode, want in (
        (0, "transport", "bus-pass-older"),
        (1, "transport", None),
        (1, "library", "library"),
        (9, "library", None),
        (scale.count - 5, "transport", "bus-pass-older"),
    ):
        body = _body((i, mode, time.time())).encode()
        status, answer = post(base + "/api/v1/taps", body, headers)
        if status != 200 or answer.get("entitlement") != want:
            raise SystemExit(f"card {i} {mode}: expected {want}, got {status} {answer}")
        if i == 0:
            again, refused = post(base + "/api/v1/taps", body, headers)
            if again != 409 or refused.get("error") != "replayed_tap":
                raise SystemExit(f"a replayed tap was not refused: {again} {refused}")
    stale = _body((2, "library", time.time() - 600)).encode()
    status, answer = post(base + "/api/v1/taps", stale, headers)
    if status != 422 or answer.get("error") != "stale_challenge":
        raise SystemExit(f"a stale tap was not refused: {status} {answer}")
    log("decisions checked: bus pass, not entitled, library, replay refused, stale refused")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    serving.kent_scale_arguments(parser, rate=serving.offered_rate(TARGET_RATE))
    parser.add_argument("--bodies-per-second", type=int, default=3000)
    args = parser.parse_args()
    if not args.rounds <= 20 or not 1 <= args.duration <= 20:
        parser.error("--rounds at most 20, --duration 1 to 20 s (challenges last 30 s)")
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
    workdir = Path(tempfile.mkdtemp(prefix="kentcard-bench-taps-"))
    log(f"logs and bodies in {workdir}")
    env = {
        **os.environ,
        "KENTCARD_DATABASE_URL": url,
        "KENTCARD_INSTANCE_PATH": str(scale.instance),
        "KENTCARD_ISSUER": base,
        **dict(kv.split("=", 1) for kv in args.server_env),
    }
    client = serving.create_client(
        env,
        "--name",
        "bench reader",
        "--grant",
        "client_credentials",
        "--scope",
        "taps:write",
        code=codes[0][1],
    )
    with serving.serve(args, codes, env, port, workdir) as servers:
        token = serving.client_credentials_token(base, client, "taps:write")
        for served in servers:
            if args.before:
                log(f"{served.name}: {served.command}")
            check_decisions(served.base, token, scale)
        if args.check:
            return 0
        delay = measure(args, scale, servers, client, workdir / "bodies.jsonl")
    import psycopg

    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        recorded = conn.execute("SELECT count(*) FROM taps").fetchone()
    print(f"date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, {serving.load_line()}")
    for served in servers:
        tag = serving.tag(served, servers)
        print(f"{tag}server: {served.command}; PostgreSQL {args.db_name}, {scale.count:,} cards")
    print(
        f"taps recorded by the server{'s' if args.before else ''}: {recorded[0] if recorded else 0}"
    )
    for served in servers:
        tag = serving.tag(served, servers)
        throughput, _, line = serving.summary_line(
            f"{tag}throughput (wrk -t1 -c{args.connections})", "taps", served.results["throughput"]
        )
        print(line)
        at_rate, p99, line = serving.summary_line(
            f"{tag}at ~{args.rate}/s (wrk -t1 -c{args.rate_connections}, pause {delay} ms)",
            "taps",
            served.results["at rate"],
        )
        print(line)
        target = serving.target_line(5, "taps", TARGET_RATE, TARGET_P99, throughput, at_rate, p99)
        print(f"{tag}{target}")
    if args.before:
        print("\n".join(serving.before_after_lines("taps", servers)))
    return 0


def measure(
    args: argparse.Namespace,
    scale: KentScale,
    servers: list[serving.Served],
    client: dict[str, Any],
    bodies: Path,
) -> float:
    """Warm each server up, then measure the rounds (both servers in each, the order
    alternating, fresh bodies for every load); returns the pause of the rate load."""
    rng = random.Random(20261123)
    per_round = max(5000, args.bodies_per_second * args.duration)
    nominal = serving.pause_ms(args.rate_connections, args.rate)
    calibrate = 1000
    per_body = make_bodies(scale, calibrate, bodies, rng) / calibrate
    warmup_bodies = max(2000, args.bodies_per_second * args.warmup)
    token = serving.client_credentials_token(servers[0].base, client, "taps:write")
    pauses = []
    for served in servers:
        # A warm-up as fast as it goes, then one at the nominal pause: what it fell short
        # of --rate sets the pause from then on (each connection also waits for its answer).
        for connections, pause in ((args.connections, 0.0), (args.rate_connections, nominal)):
            took = make_bodies(scale, warmup_bodies, bodies, rng, per_body * warmup_bodies)
            per_body = took / warmup_bodies
            warm = run_wrk(served.base, token, bodies, connections, args.warmup, pause)
        pauses.append(serving.paced_pause(nominal, args.rate_connections, warm.rate, args.rate))
        log(
            f"{serving.tag(served, servers)}warmed up: {warm.rate:.0f} taps/s at a {nominal} ms "
            f"pause, median latency {warm.p50:.1f} ms: pause {pauses[-1]} ms"
        )
        served.meter = CpuMeter(served.process.pid, args.pg_url, args.db_name)
    # One pause for both servers, so both are offered the same load.
    delay = round(statistics.mean(pauses), 1)
    log(f"pause {delay} ms from now on")
    for number in range(1, args.rounds + 1):
        # A fresh token each round (a long run outlasts one), good at both servers.
        token = serving.client_credentials_token(servers[0].base, client, "taps:write")
        for kind, connections, pause in (
            ("throughput", args.connections, 0.0),
            ("at rate", args.rate_connections, delay),
        ):
            for served in serving.interleaved(servers, number):
                took = make_bodies(scale, per_round, bodies, rng, per_body * per_round)
                per_body = took / per_round
                result = run_wrk(
                    served.base, token, bodies, connections, args.duration, pause, served.meter
                )
                served.results[kind].append(result)
                log(
                    f"round {number} {serving.tag(served, servers)}{kind}: {result.rate:.0f} "
                    f"taps/s, p50 {result.p50:.1f} ms, p99 {result.p99:.1f} ms; CPU per tap: "
                    f"server {result.server_ms:.2f} ms, PostgreSQL {result.postgres_ms:.2f} ms "
                    f"(wrk {result.wrk_cpu:.0%} of a core; bodies made in {took:.1f} s)"
                )
    return delay


if __name__ == "__main__":
    sys.exit(main())
