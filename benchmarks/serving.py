"""Serving the app and loading it with ``wrk``: what the Kent-scale API benchmarks share.

``start_server`` is the one place that says how these benchmarks serve the app: the main
README's production command (granian, one worker per core, a few blocking threads each),
or gunicorn with gthread workers for comparison with figures measured before the switch.
``run_wrk`` runs one load with a Lua script that prints ``BENCH_RESULT {json}`` from its
``done()`` (``online_taps/taps.lua``, ``partner_checks/checks.lua``) and, with a
:class:`CpuMeter`, the CPU the server and PostgreSQL spent per request.

A :class:`Checkout` says whose code serves: this checkout with the interpreter running
the script (the default), or another checkout with its own ``.venv`` (``--repo PATH``, as
the token benchmark has it). ``--before PATH`` serves a second checkout beside the first
on the same database; :func:`interleaved` orders the two for each round and
:func:`before_after_lines` prints the medians of both and their ratio.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
BIN = Path(sys.executable).parent
#: The pacing both wrk scripts load (their `delay()`).
PACING_LUA = REPO / "benchmarks" / "pacing.lua"

SERVERS = ("granian", "gunicorn")
#: Python threads per worker when not given: the README's production command for granian
#: (``--blocking-threads 4``), its gunicorn alternative (``--threads 8``).
DEFAULT_THREADS = {"granian": 4, "gunicorn": 8}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


# -- the server ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkout:
    """A checkout whose ``idservice`` code serves, run from ``root`` with the programs in
    ``bin`` (its ``.venv/bin``; for this checkout, the interpreter running the script)."""

    root: Path
    bin: Path

    @property
    def label(self) -> str:
        return "this checkout" if self.root == REPO else str(self.root)


def migrations(root: Path) -> set[str]:
    return {path.name for path in (root / "migrations" / "versions").glob("*.py")}


def checkout(path: str | Path | None, server: str) -> Checkout:
    """The checkout at ``path`` (None: this one), checked before anything starts: its
    ``.venv`` has the server and the ``kentcard`` CLI, and it has no migration this
    checkout lacks (the database is migrated by the checkout running the script)."""
    root = Path(path).resolve() if path else REPO
    if root == REPO:
        return Checkout(REPO, BIN)
    found = Checkout(root, root / ".venv" / "bin")
    missing = [
        str(found.bin / name) for name in (server, "kentcard") if not (found.bin / name).exists()
    ]
    if missing:
        raise SystemExit(
            f"{root} cannot serve: missing {', '.join(missing)}; run `make setup` there"
        )
    newer = sorted(migrations(root) - migrations(REPO))
    if newer:
        raise SystemExit(
            f"{root} has migrations this checkout lacks ({', '.join(newer)}): the database "
            f"is migrated by the checkout running the script, so run it from {root}"
        )
    return found


def server_command(
    server: str, port: int, workers: int, threads: int, bin_dir: Path = BIN
) -> list[str]:
    """The README's production command (``granian``) or its gunicorn alternative."""
    if server == "granian":
        return [
            str(bin_dir / "granian"),
            "--interface",
            "wsgi",
            "--factory",
            "--workers",
            str(workers),
            "--blocking-threads",
            str(threads),
            "--no-ws",
            "--respawn-failed-workers",
            "--host",
            HOST,
            "--port",
            str(port),
            "idservice:create_app",
        ]
    if server == "gunicorn":
        return [
            str(bin_dir / "gunicorn"),
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
    raise ValueError(f"unknown server {server!r}: one of {', '.join(SERVERS)}")


def server_version(server: str, bin_dir: Path = BIN) -> str:
    done = subprocess.run(
        [str(bin_dir / server), "--version"], capture_output=True, text=True, timeout=30
    )
    found = re.search(r"\d+(\.\d+)+", done.stdout + done.stderr)
    return found.group(0) if found else "?"


def start_server(
    env: dict[str, str],
    port: int,
    workers: int,
    threads: int,
    log_path: Path,
    server: str = "granian",
    code: Checkout | None = None,
) -> tuple[subprocess.Popen[bytes], str]:
    """Start the app in a session of its own (so its process group is the server: master
    and workers), from ``code`` (default: this checkout); returns the process and the
    command as words for the report."""
    code = code or Checkout(REPO, BIN)
    command = server_command(server, port, workers, threads, code.bin)
    with log_path.open("ab") as out:
        process = subprocess.Popen(
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=code.root,
        )
    words = " ".join([server, *command[1:]])
    where = "" if code.root == REPO else f", code and .venv of {code.root}"
    return process, f"{words} ({server} {server_version(server, code.bin)}{where})"


def stop_server(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the server's process group, SIGKILL if it has not gone in 30 s."""
    if process.poll() is not None:
        return
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


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


# -- clients and requests --------------------------------------------------------------------


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def create_client(
    env: dict[str, str], *options: str, code: Checkout | None = None
) -> dict[str, Any]:
    """``kentcard clients create OPTIONS --json`` (the CLI of ``code``, default this
    checkout): the new client, with its secret."""
    code = code or Checkout(REPO, BIN)
    made = subprocess.run(
        [str(code.bin / "kentcard"), "clients", "create", *options, "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        cwd=code.root,
    )
    if made.returncode != 0:
        raise SystemExit(f"kentcard clients create failed: {made.stderr or made.stdout}")
    client: dict[str, Any] = json.loads(made.stdout)
    return client


def client_credentials_token(base: str, client: dict[str, Any], scope: str) -> str:
    """An access token for ``client`` from ``POST /oauth/token`` (HTTP Basic)."""
    basic = base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode())
    form = urllib.parse.urlencode({"grant_type": "client_credentials", "scope": scope})
    status, answer = post(
        base + "/oauth/token",
        form.encode(),
        {
            "Content-Type": "application/x-www-form-urlencoded",
            "Authorization": "Basic " + basic.decode(),
        },
    )
    if status != 200:
        raise SystemExit(f"no token: {status} {answer}")
    return str(answer["access_token"])


# -- CPU accounting --------------------------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of ``/proc/PID/stat`` after the command name (None when it has gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _cpu(fields: list[str] | None) -> float:
    """User + system CPU seconds of a process so far (0 when it has gone)."""
    if fields is None:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def _group(pgid: int) -> dict[int, float]:
    """CPU seconds of each live process in a process group: the server's master and
    workers however they were spawned (granian's come from a thread of the master)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None and int(fields[2]) == pgid:
                found[int(entry.name)] = _cpu(fields)
    return found


class CpuMeter:
    """CPU the server (master and workers) and PostgreSQL's backends for the bench
    database used: a figure that depends much less on what else the machine runs than
    wall-clock throughput does."""

    def __init__(self, server_pid: int, pg_url: str, db_name: str) -> None:
        self.server_pid, self.pg_url, self.db_name = server_pid, pg_url, db_name

    def sample(self) -> dict[str, dict[int, float]]:
        import psycopg

        with psycopg.connect(self.pg_url, autocommit=True) as conn:
            backends = [
                int(row[0])
                for row in conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = %s", (self.db_name,)
                )
            ]
        return {
            "server": _group(self.server_pid),
            "postgres": {pid: _cpu(_stat_fields(pid)) for pid in backends},
        }

    @staticmethod
    def used(
        before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]
    ) -> dict[str, float]:
        return {
            kind: sum(cpu - before[kind].get(pid, 0.0) for pid, cpu in after[kind].items())
            for kind in after
        }


# -- load ------------------------------------------------------------------------------------


@dataclass
class Result:
    requests: int
    seconds: float
    p50: float
    p99: float
    wrk_cpu: float  # share of one core wrk used
    server_ms: float = 0.0  # the server's CPU per request
    postgres_ms: float = 0.0  # PostgreSQL backends' CPU per request
    found: dict[str, Any] = field(default_factory=dict)  # all the script reported

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


def run_wrk(
    script: Path,
    url: str,
    script_env: dict[str, str],
    connections: int,
    duration: int,
    meter: CpuMeter | None = None,
    bad_hint: str = "",
) -> Result:
    """One ``wrk -t1`` load; any non-2xx answer or socket error stops the run."""
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
            str(script),
            url,
        ],
        env={**os.environ, "BENCH_PACING": str(PACING_LUA), **script_env},
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
            f"{found['non2xx']} answers were not 2xx (first {found['first_bad_status']}"
            f"{bad_hint}), {found['socket_errors']} socket errors"
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
        found,
    )


def pause_ms(connections: int, rate: int) -> float:
    """The pause per connection before each request so that ``connections`` together
    offer about ``rate`` requests/s (a little less: each also waits for its answer), to
    a tenth of a millisecond (the Lua scripts make up the fraction now and then)."""
    return max(1.0, round(connections * 1000 / rate, 1))


def paced_pause(pause: float, connections: int, achieved: float, rate: int) -> float:
    """The pause that offers ``rate`` requests/s, after ``connections`` pausing ``pause``
    ms each offered only ``achieved`` (a warm-up): what a request took on top of its
    pause (waiting for the answer, wrk's own time) comes off the pause. Never below half
    the nominal pause, so an overloaded server is not answered with a saturating load."""
    floor = round(pause_ms(connections, rate) / 2, 1)
    if achieved <= 0:
        return floor  # nothing answered in the warm-up: the gentlest load
    period = connections * 1000 / rate
    overhead = connections * 1000 / achieved - pause
    return max(floor, round(period - overhead, 1))


def load_line() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (5 min {five:.1f})"


def kent_scale_arguments(parser: argparse.ArgumentParser, *, rate: int) -> None:
    """The options both Kent-scale benchmarks take (online taps, partner checks); they
    share the database and the instance folder by default, so the data is built once."""
    add = parser.add_argument
    add("--count", type=int, default=1_600_000)
    add("--rounds", type=int, default=3)
    add("--duration", type=int, default=10)
    add("--warmup", type=int, default=5)
    add("--connections", type=int, default=16)
    add("--rate", type=int, default=rate)
    add("--rate-connections", type=int, default=32)
    add("--workers", type=int, default=2)
    add("--server", choices=SERVERS, default="granian")
    add("--threads", type=int, default=None, help="per worker (default: granian 4, gunicorn 8)")
    add("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    add("--db-name", default="kentcard_kent_scale")
    add("--instance", default=str(Path(tempfile.gettempdir()) / "kentcard-kent-scale"))
    add("--rebuild", action="store_true", help="build the data afresh")
    add("--server-env", action="append", default=[], metavar="KEY=VALUE")
    add("--check", action="store_true", help="check the answers before any load, then stop")
    add(
        "--repo",
        metavar="PATH",
        help="serve the code of the checkout at PATH with its .venv (default: this one)",
    )
    add(
        "--before",
        metavar="PATH",
        help="also serve the checkout at PATH (its .venv) on the same data and measure both "
        "in each round: medians of both and after/before",
    )


# -- before and after ------------------------------------------------------------------------

#: The two loads of each round, in the order they run.
LOADS = ("throughput", "at rate")


@dataclass
class Served:
    """A running server: "after" (``--repo``, default this checkout) or "before"
    (``--before``), and what each of :data:`LOADS` measured on it."""

    name: str
    code: Checkout
    process: subprocess.Popen[bytes]
    base: str
    command: str
    results: dict[str, list[Result]] = field(default_factory=lambda: {k: [] for k in LOADS})
    meter: CpuMeter | None = None


def checkouts(args: argparse.Namespace) -> list[tuple[str, Checkout]]:
    """("after", ``--repo``) and, with ``--before``, ("before", its checkout)."""
    found = [("after", checkout(args.repo, args.server))]
    if args.before:
        found.append(("before", checkout(args.before, args.server)))
    return found


@contextmanager
def serve(
    args: argparse.Namespace,
    codes: Sequence[tuple[str, Checkout]],
    env: dict[str, str],
    port: int,
    workdir: Path,
) -> Iterator[list[Served]]:
    """Serve each checkout, the first on ``port``, the others on free ports, all with
    ``env`` (the same database, instance folder and issuer: a token from one is good at
    the others); answer once all do, stop them all at the end."""
    threads = args.threads or DEFAULT_THREADS[args.server]
    ports = [port]
    while len(ports) < len(codes):
        if (candidate := free_port()) not in ports:
            ports.append(candidate)
    servers: list[Served] = []
    try:
        for (name, code), each in zip(codes, ports, strict=True):
            process, command = start_server(
                env, each, args.workers, threads, workdir / f"server-{name}.log", args.server, code
            )
            servers.append(Served(name, code, process, f"http://{HOST}:{each}", command))
        for served in servers:
            wait_ready(served.base, served.process)
        yield servers
    finally:
        for served in servers:
            stop_server(served.process)


def interleaved(servers: list[Served], number: int) -> list[Served]:
    """The order of round ``number`` (from 1): as given in odd rounds, reversed in even
    ones, so that neither side always runs first."""
    return servers if number % 2 else servers[::-1]


def tag(served: Served, servers: Sequence[Served]) -> str:
    """``"after "`` or ``"before "`` when there are both, else nothing."""
    return f"{served.name} " if len(servers) > 1 else ""


def ratio_lines(title: str, rows: Sequence[tuple[str, float, float]]) -> list[str]:
    """A table of ``(figure, before, after)`` with the ratio after/before."""
    width = max(len(title), *(len(label) for label, _, _ in rows))
    lines = [f"{title:<{width}}  {'before':>10}  {'after':>10}  {'after/before':>12}"]
    for label, before, after in rows:
        ratio = f"{after / before:.2f}" if before else "-"
        lines.append(f"{label:<{width}}  {_figure(before)}  {_figure(after)}  {ratio:>12}")
    return lines


def _figure(value: float) -> str:
    return f"{value:>10.1f}" if abs(value) >= 10 else f"{value:>10.2f}"


def before_after_lines(unit: str, servers: Sequence[Served]) -> list[str]:
    """Medians of after and before for each load: rate, p99, server CPU per request."""
    after, before = servers
    figures: tuple[tuple[str, Callable[[Result], float]], ...] = (
        (f"{unit}/s", lambda r: r.rate),
        ("p99 ms", lambda r: r.p99),
        (f"server CPU ms/{unit[:-1]}", lambda r: r.server_ms),
    )
    rows = [
        (
            f"{kind}: {figure}",
            statistics.median(value(r) for r in before.results[kind]),
            statistics.median(value(r) for r in after.results[kind]),
        )
        for kind in LOADS
        for figure, value in figures
    ]
    rounds = len(after.results[LOADS[0]])
    return [
        f"before: {before.code.label}; after: {after.code.label}",
        *ratio_lines(f"median of {rounds} interleaved rounds", rows),
    ]


# -- reporting -------------------------------------------------------------------------------


def offered_rate(target: int) -> int:
    """What the rate load offers for a target rate: a little more, so that what is achieved
    (pacing is not exact on a shared machine) is at least the target more often than not."""
    return round(target * 1.04)


def summary_line(kind: str, unit: str, results: list[Result]) -> tuple[float, float, str]:
    """(median rate, median p99, the line that says so) for one kind of load."""
    rate = statistics.median(r.rate for r in results)
    p99 = statistics.median(r.p99 for r in results)
    line = (
        f"{kind}: median {rate:.0f} {unit}/s, "
        f"median p50 {statistics.median(r.p50 for r in results):.1f} ms, median p99 {p99:.1f} ms, "
        f"CPU per {unit[:-1]}: server {statistics.median(r.server_ms for r in results):.2f} ms, "
        f"PostgreSQL {statistics.median(r.postgres_ms for r in results):.2f} ms; rounds: "
        + ", ".join(f"{r.rate:.0f}/s p99 {r.p99:.1f} ms (wrk {r.wrk_cpu:.0%})" for r in results)
    )
    return rate, p99, line


def target_line(
    issue: int, unit: str, rate: int, p99_ms: float, saturated: float, paced: float, p99: float
) -> str:
    """Whether the medians meet an issue's target: ``rate`` per second at saturation, and
    a p99 of at most ``p99_ms`` under a load that achieved at least ``rate``."""
    met_p99 = p99 <= p99_ms and paced >= rate
    return (
        f"target (issue {issue}): at least {rate:,} {unit}/s: "
        f"{'met' if saturated >= rate else 'NOT met'} ({saturated:.0f}); "
        f"p99 at most {p99_ms:.0f} ms at that rate: {'met' if met_p99 else 'NOT met'} "
        f"({p99:.1f} ms at {paced:.0f}/s achieved)"
    )
