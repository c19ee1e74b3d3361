"""Online tap decisions per second and p99 latency: POST /api/v1/taps at Kent scale.

PostgreSQL holds 1.6 million residents with an active Kent Card each and their
entitlements (:mod:`benchmarks.kent_scale`, built once and reused). The app is served by
the production command in the README (gunicorn, gthread workers). ``wrk`` sends
pre-generated tap bodies: each is a genuine card answer (certificate from the issuer key,
signature by the card's key) over a fresh timestamped challenge, for a random card, in
transport (80 %) or library mode, and each body is sent once, so the replay and time
checks run as in production. Two loads per round:

* **throughput**: ``--connections`` connections as fast as they go (saturation);
* **latency at a rate**: ``--rate-connections`` connections, each pausing so that together
  they offer about ``--rate`` taps/s: the p99 a reader sees at that load.

    .venv/bin/python benchmarks/online_taps/run.py [--count 1600000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import random
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.kent_scale import KentScale, open_existing, populate  # noqa: E402
from cardio.verify import new_challenge  # noqa: E402

LUA = HERE / "taps.lua"
HOST = "127.0.0.1"
BIN = Path(sys.executable).parent


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def start_server(env: dict[str, str], port: int, workers: int, threads: int, log_path: Path):  # type: ignore[no-untyped-def]
    """The README's production command (keep this the one place that says how we serve)."""
    command = [
        str(BIN / "gunicorn"),
        "--worker-class",
        "gthread",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--keep-alive",
        "30",
        "--bind",
        f"{HOST}:{port}",
        "idservice:create_app()",
    ]
    out = log_path.open("ab")
    return subprocess.Popen(
        command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=REPO
    ), " ".join(command[1:])


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited with status {process.returncode}")
        try:
            discovery = url + "/.well-known/openid-configuration"
            with urllib.request.urlopen(discovery, timeout=2):  # noqa: S310 - our server
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("the server did not answer in time")


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


# -- the database ----------------------------------------------------------------------------


def prepare(args: argparse.Namespace) -> tuple[str, KentScale]:
    import psycopg

    from idservice import migrate

    admin = args.pg_url
    url = re.sub(r"/[^/]*$", "/" + args.db_name, admin).replace(
        "postgresql://", "postgresql+psycopg://", 1
    )
    instance = Path(args.instance)
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (args.db_name,)
        ).fetchone()
        scale = None
        if exists and not args.rebuild:
            scale = open_existing(url, instance)
            if scale is not None and scale.count != args.count:
                scale = None
        if scale is None:
            log(f"building {args.db_name}: {args.count:,} residents and cards (takes minutes)")
            conn.execute(f'DROP DATABASE IF EXISTS "{args.db_name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{args.db_name}"')
            shutil.rmtree(instance, ignore_errors=True)
            instance.mkdir(parents=True)
            migrate.upgrade(url)
            started = time.monotonic()
            scale = populate(url, instance, args.count, progress=log)
            log(f"built in {time.monotonic() - started:.0f} s")
        else:
            log(f"reusing {args.db_name} ({scale.count:,} residents and cards)")
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


_TICK = os.sysconf("SC_CLK_TCK")


def _cpu(pid: int) -> float:
    """User + system CPU seconds of a process so far (0 when it has gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def _children(pid: int) -> list[int]:
    try:
        return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


class CpuMeter:
    """CPU the server (gunicorn master and workers) and PostgreSQL's backends for the bench
    database used: a figure that depends much less on what else the machine runs than
    wall-clock throughput does."""

    def __init__(self, server_pid: int, pg_url: str, db_name: str) -> None:
        self.server_pid, self.pg_url, self.db_name = server_pid, pg_url, db_name

    def sample(self) -> dict[str, dict[int, float]]:
        import psycopg

        server = [self.server_pid, *_children(self.server_pid)]
        with psycopg.connect(self.pg_url, autocommit=True) as conn:
            backends = [
                int(row[0])
                for row in conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = %s", (self.db_name,)
                )
            ]
        return {
            "server": {pid: _cpu(pid) for pid in server},
            "postgres": {pid: _cpu(pid) for pid in backends},
        }

    @staticmethod
    def used(
        before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]
    ) -> dict[str, float]:
        return {
            kind: sum(cpu - before[kind].get(pid, 0.0) for pid, cpu in after[kind].items())
            for kind in after
        }


@dataclass
class Result:
    requests: int
    seconds: float
    p50: float
    p99: float
    wrk_cpu: float  # share of one core wrk used
    server_ms: float = 0.0  # gunicorn CPU per tap
    postgres_ms: float = 0.0  # PostgreSQL backends' CPU per tap

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


def run_wrk(
    url: str,
    token: str,
    bodies: Path,
    connections: int,
    duration: int,
    delay_ms: int,
    meter: CpuMeter | None = None,
) -> Result:
    env = {
        **os.environ,
        "TAP_BODIES": str(bodies),
        "TAP_TOKEN": token,
        "TAP_DELAY_MS": str(delay_ms),
    }
    cpu_before = meter.sample() if meter else None
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{duration}s",
            "--timeout",
            "5s",
            "-s",
            str(LUA),
            url,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=duration + 60,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = CpuMeter.used(cpu_before, meter.sample()) if meter and cpu_before else {}
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH_RESULT ")), None)
    if line is None:
        raise SystemExit(f"wrk gave no result: {done.stdout}\n{done.stderr}")
    found = json.loads(line.removeprefix("BENCH_RESULT "))
    if found["non2xx"] or found["socket_errors"]:
        raise SystemExit(
            f"{found['non2xx']} answers were not 2xx (first {found['first_bad_status']}; 404 "
            f"means the bodies ran out: raise --bodies-per-second), "
            f"{found['socket_errors']} socket errors"
        )
    seconds = found["duration_us"] / 1e6
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    latency = found["latency_us"]
    requests = max(1, found["requests"])
    return Result(
        found["requests"],
        seconds,
        latency["p50"] / 1000,
        latency["p99"] / 1000,
        cpu / seconds,
        used.get("server", 0.0) * 1000 / requests,
        used.get("postgres", 0.0) * 1000 / requests,
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
    parser.add_argument("--count", type=int, default=1_600_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--rate-connections", type=int, default=32)
    parser.add_argument("--bodies-per-second", type=int, default=3000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--db-name", default="kentcard_kent_scale")
    parser.add_argument(
        "--instance", default=str(Path(tempfile.gettempdir()) / "kentcard-kent-scale")
    )
    parser.add_argument("--rebuild", action="store_true", help="build the data afresh")
    parser.add_argument("--server-env", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--check", action="store_true", help="check decisions only, no load")
    args = parser.parse_args()
    if not args.rounds <= 20 or not 1 <= args.duration <= 20:
        parser.error("--rounds at most 20, --duration 1 to 20 s (challenges last 30 s)")
    if shutil.which("wrk") is None:
        print("wrk is missing: apt-get install wrk", file=sys.stderr)
        return 2
    url, scale = prepare(args)
    port = free_port()
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
    made = subprocess.run(
        [
            str(BIN / "kentcard"),
            "clients",
            "create",
            "--name",
            "bench reader",
            "--grant",
            "client_credentials",
            "--scope",
            "taps:write",
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    client = json.loads(made.stdout)
    server, command = start_server(env, port, args.workers, args.threads, workdir / "server.log")
    try:
        wait_ready(base, server)
        form = urllib.parse.urlencode({"grant_type": "client_credentials", "scope": "taps:write"})
        status, answer = post(
            base + "/oauth/token",
            form.encode(),
            {
                "Content-Type": "application/x-www-form-urlencoded",
                "Authorization": "Basic "
                + __import__("base64")
                .b64encode(f"{client['client_id']}:{client['client_secret']}".encode())
                .decode(),
            },
        )
        if status != 200:
            raise SystemExit(f"no token: {status} {answer}")
        token = answer["access_token"]
        check_decisions(base, token, scale)
        if args.check:
            return 0
        rng = random.Random(20261123)
        bodies = workdir / "bodies.jsonl"
        per_round = max(5000, args.bodies_per_second * args.duration)
        delay = max(1, round(args.rate_connections * 1000 / args.rate))
        calibrate = 1000
        per_body = make_bodies(scale, calibrate, bodies, rng) / calibrate
        warmup_bodies = max(2000, args.bodies_per_second * args.warmup)
        took = make_bodies(scale, warmup_bodies, bodies, rng, per_body * warmup_bodies)
        per_body = took / warmup_bodies
        run_wrk(base, token, bodies, args.connections, args.warmup, 0)
        meter = CpuMeter(server.pid, args.pg_url, args.db_name)
        saturated: list[Result] = []
        paced: list[Result] = []
        for number in range(1, args.rounds + 1):
            for kind, results, connections, pause in (
                ("throughput", saturated, args.connections, 0),
                ("at rate", paced, args.rate_connections, delay),
            ):
                took = make_bodies(scale, per_round, bodies, rng, per_body * per_round)
                per_body = took / per_round
                result = run_wrk(base, token, bodies, connections, args.duration, pause, meter)
                results.append(result)
                log(
                    f"round {number} {kind}: {result.rate:.0f} taps/s, p50 {result.p50:.1f} ms, "
                    f"p99 {result.p99:.1f} ms; CPU per tap: server {result.server_ms:.2f} ms, "
                    f"PostgreSQL {result.postgres_ms:.2f} ms (wrk {result.wrk_cpu:.0%} of a core; "
                    f"bodies made in {took:.1f} s)"
                )
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
    import psycopg

    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        recorded = conn.execute("SELECT count(*) FROM taps").fetchone()
    print(f"date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    print(f"server: gunicorn {command}; PostgreSQL {args.db_name}, {scale.count:,} cards")
    print(f"taps recorded by the server: {recorded[0] if recorded else 0}")
    for kind, results, connections in (
        ("throughput", saturated, args.connections),
        (f"at ~{args.rate}/s", paced, args.rate_connections),
    ):
        rate = statistics.median(r.rate for r in results)
        print(
            f"{kind} (wrk -t1 -c{connections}): median {rate:.0f} "
            f"taps/s, median p50 {statistics.median(r.p50 for r in results):.1f} ms, "
            f"median p99 {statistics.median(r.p99 for r in results):.1f} ms, "
            f"CPU per tap: server {statistics.median(r.server_ms for r in results):.2f} ms, "
            f"PostgreSQL {statistics.median(r.postgres_ms for r in results):.2f} ms; rounds: "
            + ", ".join(f"{r.rate:.0f}/s p99 {r.p99:.1f} ms (wrk {r.wrk_cpu:.0%})" for r in results)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
