#!/usr/bin/env python3
"""Token endpoint benchmark: Kent Card identity service vs oidc-provider.

Measures throughput (requests/s) and p99 latency of the OAuth 2.0
client_credentials token endpoint of

* "ours": the README's production command, ``granian --interface wsgi --factory
  --workers 2 --blocking-threads 4 ... idservice:create_app``, on PostgreSQL (``--server
  gunicorn`` measures ``gunicorn 'idservice:create_app()'`` with gthread workers instead,
  ``--server granian,gunicorn`` both),
* "peer": the npm package ``oidc-provider`` (``peer/server.js``) on Node,

in the same run, interleaved round by round, with the same load generator
(``wrk`` and ``token.lua``), so that the noise of a shared machine hits both
alike.  Each server is first checked to answer HTTP 200 with a JWT access
token; any non-2xx answer under load aborts the run.

``--before PATH`` also serves ours from the checkout at PATH (its code and .venv) on
the same database and client, measured beside ours in every round (which of the two
goes first alternates), and prints the medians of both and the ratio after/before.

Usage (from the repository root)::

    .venv/bin/python benchmarks/token_endpoint/run.py \
        [--rounds 5 --duration 10 --connections 32 --workers 2] [--repo PATH] \
        [--before PATH [--only ours]]

Only the Python standard library is used here (and ``benchmarks/serving.py``'s table of
ratios, itself standard library); the database is reset through the target repository's
virtualenv (which has psycopg), so this script runs under any Python >= 3.10.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

HERE = Path(__file__).resolve().parent
DEFAULT_REPO = HERE.parent.parent
sys.path.insert(0, str(DEFAULT_REPO))

from benchmarks.serving import migrations, ratio_lines  # noqa: E402

PEER_DIR = HERE / "peer"
LUA_SCRIPT = HERE / "token.lua"
TOKEN_PATH = "/oauth/token"
SCOPE = "entitlements:read"
PEER_AUDIENCE = "urn:kentcard:api"
HOST = "127.0.0.1"
READY_TIMEOUT_S = 60.0
#: The README's production command: granian, one worker per core, this many threads each.
GRANIAN_THREADS = 4


class BenchError(Exception):
    """A precondition or a check failed; the message is meant for the user."""


@dataclass
class WrkResult:
    """One wrk run, as printed by token.lua's done() hook."""

    requests: int
    duration_s: float
    non2xx: int
    first_bad_status: int
    errors: dict[str, int]
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    load_avg: float = 0.0  # 1-minute load average just before the run: how noisy it was
    cpu_s: float = 0.0  # CPU time (user + system) the server's processes used during the run

    @property
    def cpu_us_per_request(self) -> float:
        """Server CPU time per completed request: what a token costs, whatever the noise."""
        return self.cpu_s / self.requests * 1e6 if self.requests else 0.0

    @property
    def rps(self) -> float:
        """Completed requests per second over the measured window."""
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def socket_errors(self) -> int:
        """Connect/read/write/timeout errors (status errors are counted as non-2xx)."""
        return sum(v for k, v in self.errors.items() if k != "status")


@dataclass
class Contender:
    """A running server under test and how to ask it for a token."""

    name: str
    port: int
    auth_header: str
    process: subprocess.Popen[bytes]
    log_path: Path
    description: str
    kind: str  # "ours", "before" (ours from --before) or "peer"
    results: list[WrkResult] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        """Root URL of the server, on loopback."""
        return f"http://{HOST}:{self.port}"


# --------------------------------------------------------------------------
# small helpers


def log(message: str) -> None:
    """Progress output goes to stderr so stdout keeps only the figures."""
    print(message, file=sys.stderr, flush=True)


def fail(message: str, code: int = 2) -> NoReturn:
    """Stop with a clear message and a non-zero exit code."""
    print(f"\nERROR: {message}", file=sys.stderr, flush=True)
    sys.exit(code)


def free_port() -> int:
    """Ask the kernel for an unused loopback port, so parallel runs don't clash."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def basic_auth(client_id: str, client_secret: str) -> str:
    """client_secret_basic per RFC 6749 2.3.1: form-urlencode, then base64."""
    user = urllib.parse.quote(client_id, safe="")
    password = urllib.parse.quote(client_secret, safe="")
    raw = f"{user}:{password}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def token_body() -> str:
    """The form body every token request carries."""
    return urllib.parse.urlencode({"grant_type": "client_credentials", "scope": SCOPE})


def tail(path: Path, lines: int = 25) -> str:
    """Last lines of a server log, to show why a server failed."""
    try:
        content = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(content[-lines:]) or "(empty log)"


def run_cmd(
    cmd: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 120.0,
) -> subprocess.CompletedProcess[str]:
    """Run a short command, capturing output; never raises on exit status."""
    try:
        return subprocess.run(
            list(cmd),
            env=env,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as exc:
        raise BenchError(f"command not found: {cmd[0]}") from exc
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"command timed out after {timeout:.0f}s: {' '.join(cmd)}") from exc


def b64url_json(part: str) -> dict[str, Any]:
    """Decode one JWT segment (no signature check: we only assert the shape)."""
    padded = part + "=" * (-len(part) % 4)
    try:
        value = json.loads(base64.urlsafe_b64decode(padded))
    except (binascii.Error, ValueError) as exc:
        raise BenchError(f"access_token segment is not base64url JSON: {part[:40]}...") from exc
    if not isinstance(value, dict):
        raise BenchError("access_token segment is not a JSON object")
    return value


# --------------------------------------------------------------------------
# process management


def start_process(
    cmd: Sequence[str], *, env: dict[str, str], cwd: Path, log_path: Path
) -> subprocess.Popen[bytes]:
    """Start a server in its own session so its whole process group can be stopped."""
    log_file = log_path.open("wb")
    try:
        return subprocess.Popen(
            list(cmd),
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    finally:
        log_file.close()


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """Stop a server we started (its process group: gunicorn workers, node cluster)."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU seconds of every live process in a process group (Linux /proc).

    Servers run in their own session (``start_process``), so this is the server's master
    and all its workers; the load generator and the other server are not counted.
    """
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        # Fields after the command name, which is in parentheses and may hold spaces.
        fields = stat[stat.rfind(")") + 2 :].split()
        if int(fields[2]) != pgid:  # field 5 overall: process group
            continue
        total += int(fields[11]) + int(fields[12])  # fields 14, 15: utime, stime
    return total / CLOCK_TICKS


def wait_listening(proc: subprocess.Popen[bytes], port: int, log_path: Path, name: str) -> None:
    """Wait until the server accepts TCP connections, or fail with its log."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(
                f"{name} exited with status {proc.returncode} before listening.\n"
                f"--- {log_path} ---\n{tail(log_path)}"
            )
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise BenchError(
        f"{name} did not listen on {HOST}:{port} within {READY_TIMEOUT_S:.0f}s.\n"
        f"--- {log_path} ---\n{tail(log_path)}"
    )


# --------------------------------------------------------------------------
# load generator


def ensure_wrk() -> str:
    """Find wrk, installing Debian's package when we are root and it is missing."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        raise BenchError("wrk is not installed; install it with: sudo apt-get install -y wrk")
    log("wrk not found: installing Debian's package ...")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    result = run_cmd(["apt-get", "install", "-y", "-q", "wrk"], env=env, timeout=600)
    if result.returncode != 0:
        run_cmd(["apt-get", "update", "-q"], env=env, timeout=600)
        result = run_cmd(["apt-get", "install", "-y", "-q", "wrk"], env=env, timeout=600)
    found = shutil.which("wrk")
    if not found:
        raise BenchError(f"could not install wrk:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return found


def run_wrk(
    wrk: str, target: Contender, *, duration: int, connections: int, threads: int
) -> WrkResult:
    """One bounded wrk run against a target; parse the line token.lua prints."""
    env = {
        **os.environ,
        "BENCH_AUTH": target.auth_header,
        "BENCH_BODY": token_body(),
        "BENCH_PATH": TOKEN_PATH,
    }
    cmd = [
        wrk,
        f"--threads={threads}",
        f"--connections={connections}",
        f"--duration={duration}s",
        "--timeout=5s",
        "--latency",
        f"--script={LUA_SCRIPT}",
        target.base_url,
    ]
    result = run_cmd(cmd, env=env, timeout=duration + 60)
    match = re.search(r"^BENCH_RESULT (\{.*\})$", result.stdout, re.MULTILINE)
    if result.returncode != 0 or not match:
        raise BenchError(
            f"wrk failed against {target.name} (exit {result.returncode}):\n"
            f"{result.stdout[-2000:]}{result.stderr[-2000:]}"
        )
    data = json.loads(match.group(1))
    lat = data["latency_us"]
    return WrkResult(
        requests=int(data["requests"]),
        duration_s=data["duration_us"] / 1e6,
        non2xx=int(data["non2xx"]),
        first_bad_status=int(data["first_bad_status"]),
        errors={k: int(v) for k, v in data["errors"].items()},
        p50_ms=lat["p50"] / 1000,
        p90_ms=lat["p90"] / 1000,
        p99_ms=lat["p99"] / 1000,
        mean_ms=lat["mean"] / 1000,
        max_ms=lat["max"] / 1000,
    )


def check_result(target: Contender, res: WrkResult) -> None:
    """Abort on any non-2xx answer or a crashed server: such figures mean nothing."""
    if res.non2xx:
        raise BenchError(
            f"{target.name}: {res.non2xx} of {res.requests} responses were not 2xx "
            f"(first bad status {res.first_bad_status}); figures would be meaningless.\n"
            f"--- {target.log_path} ---\n{tail(target.log_path)}"
        )
    if res.requests == 0:
        raise BenchError(f"{target.name}: wrk completed no request")
    if target.process.poll() is not None:
        raise BenchError(
            f"{target.name} exited (status {target.process.returncode}) during the run.\n"
            f"--- {target.log_path} ---\n{tail(target.log_path)}"
        )


# --------------------------------------------------------------------------
# verification


def verify_token_endpoint(target: Contender) -> str:
    """Ask once for a token and check HTTP 200 + a JWT access token; describe it."""
    # http.client, not urllib: the target is always our own loopback server.
    conn = http.client.HTTPConnection(HOST, target.port, timeout=10)
    try:
        conn.request(
            "POST",
            TOKEN_PATH,
            body=token_body(),
            headers={
                "Authorization": target.auth_header,
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
            },
        )
        response = conn.getresponse()
        status, body = response.status, response.read()
    except OSError as exc:
        raise BenchError(f"{target.name}: token endpoint unreachable: {exc}") from exc
    finally:
        conn.close()
    if status != 200:
        detail = body[:500].decode(errors="replace")
        raise BenchError(
            f"{target.name}: token endpoint answered HTTP {status}, expected 200: {detail}"
        )
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise BenchError(f"{target.name}: token response is not JSON: {body[:200]!r}") from exc
    token = payload.get("access_token") if isinstance(payload, dict) else None
    if not isinstance(token, str) or token.count(".") != 2 or not all(token.split(".")):
        raise BenchError(
            f"{target.name}: access_token is not a JWT (3 dot-separated parts): {str(token)[:80]}"
        )
    header_part, claims_part, _ = token.split(".")
    header = b64url_json(header_part)
    claims = b64url_json(claims_part)
    ttl = payload.get("expires_in")
    if ttl != 600:
        log(f"  note: {target.name} expires_in={ttl!r} (the peer is configured with 600)")
    return (
        f"HTTP 200, JWT alg={header.get('alg')} typ={header.get('typ')} "
        f"aud={claims.get('aud')} scope={claims.get('scope')!r} expires_in={ttl} "
        f"({len(body)} bytes)"
    )


# --------------------------------------------------------------------------
# the peer: oidc-provider


def oidc_provider_version() -> str:
    """Installed oidc-provider version, for the report."""
    try:
        meta = json.loads((PEER_DIR / "node_modules/oidc-provider/package.json").read_text())
        return str(meta.get("version", "?"))
    except (OSError, ValueError):
        return "?"


def ensure_peer_installed() -> None:
    """Install the locked peer dependencies once (npm ci) when node_modules is missing."""
    if shutil.which("node") is None:
        raise BenchError("node is not installed (the peer runs on Node.js)")
    if (PEER_DIR / "node_modules/oidc-provider/package.json").is_file():
        return
    if shutil.which("npm") is None:
        raise BenchError("npm is not installed; it is needed once to install the peer")
    log(f"installing the peer's locked dependencies: npm ci in {PEER_DIR} ...")
    result = run_cmd(["npm", "ci", "--no-audit", "--no-fund"], cwd=PEER_DIR, timeout=600)
    if result.returncode != 0:
        raise BenchError(f"npm ci failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")


def start_peer(processes: int, workdir: Path) -> Contender:
    """Start oidc-provider with a fresh client secret, single process unless asked."""
    port = free_port()
    client_id = "bench"
    client_secret = secrets.token_urlsafe(32)
    env = {
        **os.environ,
        "NODE_ENV": "production",
        "PEER_PORT": str(port),
        "PEER_ISSUER": f"http://{HOST}:{port}",
        "PEER_CLIENT_ID": client_id,
        "PEER_CLIENT_SECRET": client_secret,
        "PEER_SCOPE": SCOPE,
        "PEER_AUDIENCE": PEER_AUDIENCE,
        "PEER_WORKERS": str(processes),
    }
    env.pop("DEBUG", None)  # oidc-provider's debug logging would skew the figures
    name = "peer" if processes == 1 else f"peer-cluster{processes}"
    log_path = workdir / f"{name}.log"
    proc = start_process(["node", "server.js"], env=env, cwd=PEER_DIR, log_path=log_path)
    mode = "single process" if processes == 1 else f"node:cluster, {processes} processes"
    target = Contender(
        name=name,
        port=port,
        auth_header=basic_auth(client_id, client_secret),
        process=proc,
        log_path=log_path,
        description=f"oidc-provider {oidc_provider_version()} on node {node_version()}, {mode}",
        kind="peer",
    )
    wait_listening(proc, port, log_path, name)
    return target


def node_version() -> str:
    """Node.js version, for the report."""
    result = run_cmd(["node", "--version"], timeout=10)
    return result.stdout.strip() or "?"


# --------------------------------------------------------------------------
# ours: the Kent Card identity service


@dataclass
class OursSetup:
    """What the Kent Card side needs: its tools, database and client."""

    repo: Path
    python: Path
    kentcard: Path
    gunicorn: Path
    granian: Path
    admin_url: str
    db_name: str
    extra_env: dict[str, str]
    instance_path: Path
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    client_id: str = ""
    client_secret: str = ""

    @property
    def database_url(self) -> str:
        """SQLAlchemy URL of the dedicated benchmark database."""
        parts = urllib.parse.urlsplit(self.admin_url)
        return urllib.parse.urlunsplit(
            ("postgresql+psycopg", parts.netloc, "/" + self.db_name, parts.query, "")
        )

    def env(self, issuer: str) -> dict[str, str]:
        """Environment for the CLI and the server."""
        return {
            **os.environ,
            "KENTCARD_DATABASE_URL": self.database_url,
            "KENTCARD_ISSUER": issuer,
            "KENTCARD_SECRET_KEY": self.secret_key,
            # Keep instance files in the run's temp dir, not in the measured checkout.
            "KENTCARD_INSTANCE_PATH": str(self.instance_path),
            **self.extra_env,
        }


RESET_DB_SNIPPET = """
import sys
import psycopg
from psycopg import sql

admin_url, name, action = sys.argv[1], sys.argv[2], sys.argv[3]
with psycopg.connect(admin_url, autocommit=True) as conn:
    conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    if action == "recreate":
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
"""


def check_ours(
    repo: Path,
    admin_url: str,
    db_name: str,
    extra_env: dict[str, str],
    workdir: Path,
    servers: Sequence[str] = ("granian",),
) -> OursSetup:
    """Check, before anything starts, that the repo can run our service; say what is missing."""
    venv_bin = repo / ".venv" / "bin"
    setup = OursSetup(
        repo=repo,
        python=venv_bin / "python",
        kentcard=venv_bin / "kentcard",
        gunicorn=venv_bin / "gunicorn",
        granian=venv_bin / "granian",
        admin_url=admin_url,
        db_name=db_name,
        extra_env=extra_env,
        instance_path=workdir / "instance",
    )
    needed = [setup.python, setup.kentcard]
    needed += [setup.granian] if "granian" in servers else []
    needed += [setup.gunicorn] if "gunicorn" in servers else []
    missing = [str(p) for p in needed if not p.exists()]
    if missing:
        raise BenchError(
            f"our service is not runnable from {repo}: missing {', '.join(missing)}.\n"
            f"Run `make setup` in {repo} (it creates .venv and installs the `kentcard` CLI), "
            f"or point --repo at a checkout where it was run."
        )
    env = setup.env(f"http://{HOST}:0")
    probe = run_cmd(
        [str(setup.python), "-c", "import idservice, psycopg; idservice.create_app"],
        env=env,
        cwd=repo,
        timeout=60,
    )
    if probe.returncode != 0:
        raise BenchError(
            f"our service is not importable from {repo} "
            f"(`import idservice; idservice.create_app`):\n{probe.stderr.strip()[-1500:]}"
        )
    for args in (["db", "upgrade", "--help"], ["clients", "create", "--help"]):
        result = run_cmd([str(setup.kentcard), *args], env=env, cwd=repo, timeout=60)
        if result.returncode != 0:
            raise BenchError(
                f"our CLI is not ready: `kentcard {' '.join(args)}` exited "
                f"{result.returncode}:\n{(result.stderr or result.stdout).strip()[-1500:]}"
            )
    return setup


def reset_database(setup: OursSetup, action: str) -> None:
    """Drop and (for "recreate") create the dedicated benchmark database."""
    result = run_cmd(
        [str(setup.python), "-c", RESET_DB_SNIPPET, setup.admin_url, setup.db_name, action],
        timeout=60,
    )
    if result.returncode != 0:
        raise BenchError(
            f"could not {action} database {setup.db_name!r} via {setup.admin_url}:\n"
            f"{result.stderr.strip()[-1500:]}"
        )


def parse_client_json(stdout: str) -> tuple[str, str]:
    """Find client_id/client_secret in `kentcard clients create --json` output."""
    candidates = [stdout.strip()] + [
        line.strip() for line in reversed(stdout.splitlines()) if line.strip().startswith("{")
    ]
    for text in candidates:
        try:
            data = json.loads(text)
        except ValueError:
            continue
        if isinstance(data, dict) and data.get("client_id") and data.get("client_secret"):
            return str(data["client_id"]), str(data["client_secret"])
    raise BenchError(
        "`kentcard clients create --json` printed no JSON object with client_id and "
        f"client_secret:\n{stdout[-1500:]}"
    )


def prepare_ours(setup: OursSetup) -> None:
    """Fresh database, migrations, a signing key and the benchmark client."""
    log(f"ours: recreating database {setup.db_name!r} ...")
    reset_database(setup, "recreate")
    env = setup.env(f"http://{HOST}:0")
    kc = str(setup.kentcard)
    result = run_cmd([kc, "db", "upgrade"], env=env, cwd=setup.repo, timeout=300)
    if result.returncode != 0:
        raise BenchError(
            f"`kentcard db upgrade` failed:\n{(result.stderr or result.stdout)[-2000:]}"
        )
    result = run_cmd([kc, "keys", "rotate"], env=env, cwd=setup.repo, timeout=120)
    if result.returncode != 0:
        log("  note: `kentcard keys rotate` failed; assuming the server makes a key on first use:")
        log("  " + (result.stderr or result.stdout).strip().replace("\n", "\n  ")[-800:])
    cmd = [kc, "clients", "create", "--name", "bench", "--grant", "client_credentials"]
    cmd += ["--scope", SCOPE, "--json"]
    result = run_cmd(cmd, env=env, cwd=setup.repo, timeout=120)
    if result.returncode != 0:
        raise BenchError(
            f"`kentcard clients create` failed:\n{(result.stderr or result.stdout)[-2000:]}"
        )
    setup.client_id, setup.client_secret = parse_client_json(result.stdout)


def code_of(setup: OursSetup) -> str:
    """Where the code comes from, for the report, when not from this checkout."""
    return "" if setup.repo == DEFAULT_REPO else f", code and .venv of {setup.repo}"


def gunicorn_version(gunicorn: Path) -> str:
    """Gunicorn version, for the report."""
    out = run_cmd([str(gunicorn), "--version"], timeout=30).stdout.strip()
    match = re.search(r"\d+(\.\d+)+", out)
    return match.group(0) if match else "?"


def granian_version(granian: Path) -> str:
    """Granian version, for the report."""
    out = run_cmd([str(granian), "--version"], timeout=30).stdout.strip()
    match = re.search(r"\d+(\.\d+)+", out)
    return match.group(0) if match else "?"


def start_ours_granian(
    setup: OursSetup, workers: int, threads: int, workdir: Path, side: str = "ours"
) -> Contender:
    """Start granian in WSGI mode as the README's production command does.

    Granian's Rust runtime does the HTTP work (keep-alive connections, parsing) and hands
    each request to ``threads`` Python threads per worker process.
    """
    if not setup.granian.exists():
        raise BenchError(f"{setup.granian} is missing: run `make setup` (granian is a dependency)")
    port = free_port()
    issuer = f"http://{HOST}:{port}"
    name = f"{side}-granian-w{workers}t{threads}"
    log_path = workdir / f"{name}.log"
    cmd = [
        str(setup.granian),
        "--interface=wsgi",
        "--factory",
        f"--workers={workers}",
        f"--blocking-threads={threads}",
        "--no-ws",
        "--respawn-failed-workers",
        f"--host={HOST}",
        f"--port={port}",
        "idservice:create_app",
    ]
    proc = start_process(cmd, env=setup.env(issuer), cwd=setup.repo, log_path=log_path)
    target = Contender(
        name=name,
        port=port,
        auth_header=basic_auth(setup.client_id, setup.client_secret),
        process=proc,
        log_path=log_path,
        description=(
            f"granian {granian_version(setup.granian)} (WSGI), {workers} workers x {threads} "
            f"thread{'s' if threads > 1 else ''}, PostgreSQL db {setup.db_name}" + code_of(setup)
        ),
        kind=side,
    )
    wait_listening(proc, port, log_path, name)
    return target


def start_ours(
    setup: OursSetup, workers: int, threads: int, workdir: Path, side: str = "ours"
) -> Contender:
    """Start gunicorn 'idservice:create_app()' as the README's production command does.

    ``threads`` > 1 uses gthread workers (keep-alive connections, as a load balancer or a
    partner's HTTP client keeps them); 1 uses sync workers (a new connection per request).
    """
    port = free_port()
    issuer = f"http://{HOST}:{port}"
    name = f"{side}-gunicorn-w{workers}"
    log_path = workdir / f"{name}.log"
    cmd = [
        str(setup.gunicorn),
        "idservice:create_app()",
        f"--workers={workers}",
        *(
            ["--worker-class=gthread", f"--threads={threads}", "--keep-alive=30"]
            if threads > 1
            else ["--worker-class=sync"]
        ),
        f"--bind={HOST}:{port}",
        "--log-level=warning",
    ]
    help_text = run_cmd([str(setup.gunicorn), "--help"], timeout=30).stdout
    if "--no-control-socket" in help_text:
        # Gunicorn >= 24 binds one fixed control socket per user; several servers would clash.
        cmd.append("--no-control-socket")
    proc = start_process(cmd, env=setup.env(issuer), cwd=setup.repo, log_path=log_path)
    target = Contender(
        name=name,
        port=port,
        auth_header=basic_auth(setup.client_id, setup.client_secret),
        process=proc,
        log_path=log_path,
        description=(
            f"gunicorn {gunicorn_version(setup.gunicorn)}, {workers} "
            + (f"gthread workers x {threads} threads, " if threads > 1 else "sync workers, ")
            + f"PostgreSQL db {setup.db_name}"
            + code_of(setup)
        ),
        kind=side,
    )
    wait_listening(proc, port, log_path, name)
    return target


# --------------------------------------------------------------------------
# reporting


def machine_line() -> str:
    """Date, core count and CPU model for the results table."""
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    stamp = time.strftime("%Y-%m-%d %H:%M %Z")
    return f"{stamp}; {os.cpu_count()} cores ({model}); load avg {os.getloadavg()[0]:.2f}"


def summarize(contenders: list[Contender], args: argparse.Namespace) -> dict[str, Any]:
    """Print per-round figures, medians and the ours/peer ratio; return them as data."""
    print()
    print(
        f"Token endpoint, client_credentials, wrk -t{args.threads} -c{args.connections} "
        f"-d{args.duration}s, {args.rounds} rounds (interleaved), after {args.warmup}s warm-up"
    )
    print(f"machine: {machine_line()}")
    for c in contenders:
        print(f"  {c.name:<19} {c.description}")
    print()
    print(
        f"{'round':>5}  {'server':<19} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'max ms':>8} {'requests':>9} {'sock err':>8} {'load':>6} {'cpu us/req':>10}"
    )
    for i in range(args.rounds):
        for c in contenders:
            r = c.results[i]
            print(
                f"{i + 1:>5}  {c.name:<19} {r.rps:>9.1f} {r.p50_ms:>8.2f} {r.p99_ms:>8.2f} "
                f"{r.max_ms:>8.1f} {r.requests:>9} {r.socket_errors:>8} {r.load_avg:>6.2f} "
                f"{r.cpu_us_per_request:>10.0f}"
            )
    print()
    print(f"{'median':<22} {'req/s':>9} {'p99 ms':>8} {'cpu us/req':>10}   {'req/s min..max':>17}")
    summary: dict[str, Any] = {
        "machine": machine_line(),
        "settings": vars(args).copy(),
        "servers": {},
    }
    summary["settings"]["repo"] = str(args.repo)
    summary["settings"]["before"] = str(args.before) if args.before else None
    for c in contenders:
        rps = [r.rps for r in c.results]
        p99 = [r.p99_ms for r in c.results]
        med_rps, med_p99 = statistics.median(rps), statistics.median(p99)
        med_cpu = statistics.median(r.cpu_us_per_request for r in c.results)
        print(
            f"{c.name:<22} {med_rps:>9.1f} {med_p99:>8.2f} {med_cpu:>10.0f}   "
            f"{min(rps):>8.1f}..{max(rps):<8.1f}"
        )
        summary["servers"][c.name] = {
            "description": c.description,
            "median_rps": med_rps,
            "median_p99_ms": med_p99,
            "median_cpu_us_per_request": med_cpu,
            "rounds": [
                vars(r) | {"rps": r.rps, "cpu_us_per_request": r.cpu_us_per_request}
                for r in c.results
            ],
        }
    peers = [c for c in contenders if c.kind == "peer"]
    ours = [c for c in contenders if c.kind == "ours"]
    ratios: dict[str, float] = {}
    if peers and ours:
        base = peers[0]
        base_rps = summary["servers"][base.name]["median_rps"]
        print()
        for c in ours:
            mine = summary["servers"][c.name]["median_rps"]
            ratio = mine / base_rps if base_rps else 0.0
            ratios[c.name] = ratio
            verdict = "MET" if ratio >= args.target else "NOT MET"
            print(
                f"ratio {c.name}/{base.name} throughput: {ratio:.2f}x  "
                f"(target >= {args.target:.1f}x: {verdict})"
            )
    summary["ratios"] = ratios
    summary["before_after"] = before_after(contenders, args)
    return summary


def before_after(contenders: list[Contender], args: argparse.Namespace) -> dict[str, Any]:
    """With --before: for each server setting, the medians of before and after (ours)
    and the ratio after/before; prints them as a table."""
    by_name = {c.name: c for c in contenders}
    figures: tuple[tuple[str, Callable[[WrkResult], float]], ...] = (
        ("req/s", lambda r: r.rps),
        ("p99 ms", lambda r: r.p99_ms),
        ("CPU us/request", lambda r: r.cpu_us_per_request),
    )
    found: dict[str, Any] = {}
    for before in (c for c in contenders if c.kind == "before"):
        after = by_name[before.name.replace("before-", "ours-", 1)]
        setting = after.name.removeprefix("ours-")
        rows = [
            (
                f"{setting}: {figure}",
                statistics.median(value(r) for r in before.results),
                statistics.median(value(r) for r in after.results),
            )
            for figure, value in figures
        ]
        print()
        print(f"before: {args.before}; after: {args.repo}")
        print("\n".join(ratio_lines(f"median of {args.rounds} interleaved rounds", rows)))
        found[setting] = {
            label.split(": ", 1)[1]: {
                "before": old,
                "after": new,
                "ratio": new / old if old else None,
            }
            for label, old, new in rows
        }
    return found


# --------------------------------------------------------------------------
# main


def parse_int_list(text: str) -> list[int]:
    """'2,3,4' -> [2, 3, 4]; each value must be >= 1."""
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers: {text!r}") from exc
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected integers >= 1: {text!r}")
    return values


def parse_server_list(text: str) -> list[str]:
    """'granian,gunicorn' -> ['granian', 'gunicorn']."""
    values = [part.strip() for part in text.split(",") if part.strip()]
    bad = [v for v in values if v not in ("granian", "gunicorn")]
    if not values or bad:
        raise argparse.ArgumentTypeError(f"expected granian and/or gunicorn: {text!r}")
    return values


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command line; defaults are the settings used for the README's table."""
    p = argparse.ArgumentParser(
        description="Benchmark the client_credentials token endpoint: ours vs oidc-provider.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--repo",
        type=Path,
        default=DEFAULT_REPO,
        help="repository root whose .venv and idservice code are measured as 'ours'",
    )
    p.add_argument(
        "--before",
        type=Path,
        metavar="PATH",
        help="also measure ours from the checkout at PATH (its idservice code and .venv) on "
        "the same database and client, beside ours in every round: medians and after/before",
    )
    p.add_argument(
        "--only", choices=("both", "ours", "peer"), default="both", help="which side(s) to measure"
    )
    p.add_argument("--rounds", type=int, default=5, help="interleaved measuring rounds")
    p.add_argument("--duration", type=int, default=10, help="seconds per server per round")
    p.add_argument("--warmup", type=int, default=5, help="warm-up seconds per server")
    p.add_argument("--connections", type=int, default=32, help="wrk open connections")
    p.add_argument(
        "--threads", type=int, default=1, help="wrk threads (1 leaves the 2nd core to the servers)"
    )
    p.add_argument(
        "--workers",
        type=parse_int_list,
        default=[2],
        help="worker processes for ours (granian or gunicorn); a list like 2,3 measures each",
    )
    p.add_argument(
        "--server",
        type=parse_server_list,
        default=["granian"],
        help="WSGI server(s) for ours: granian (the production setup), gunicorn, "
        "or a list like granian,gunicorn to measure each in the same run",
    )
    p.add_argument(
        "--granian-threads",
        type=parse_int_list,
        default=[GRANIAN_THREADS],
        help="Python threads per granian worker for ours (--blocking-threads); "
        "a list like 1,4 measures each",
    )
    p.add_argument(
        "--gunicorn-threads",
        type=int,
        default=8,
        help="threads per gunicorn worker for ours (gthread); 1 means sync workers",
    )
    p.add_argument(
        "--peer-processes",
        type=parse_int_list,
        default=[1],
        help="oidc-provider processes; 1 is its normal deployment, N>1 uses "
        "node:cluster; the first value is the ratio's baseline",
    )
    p.add_argument(
        "--pg-url",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="PostgreSQL maintenance URL used to drop/create the benchmark database",
    )
    p.add_argument(
        "--db-name",
        default="kentcard_bench",
        help="dedicated database, dropped and recreated on each run",
    )
    p.add_argument("--keep-db", action="store_true", help="do not drop the database at the end")
    p.add_argument(
        "--ours-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for our CLI and server (repeatable)",
    )
    p.add_argument("--target", type=float, default=1.0, help="ours/peer throughput ratio to reach")
    p.add_argument(
        "--require-target",
        action="store_true",
        help="exit 1 when an ours/peer ratio is below --target",
    )
    p.add_argument(
        "--check",
        action="store_true",
        help="only start the servers and verify a token from each, no load",
    )
    p.add_argument("--json-out", type=Path, help="also write the figures as JSON here")
    args = p.parse_args(argv)
    args.repo = args.repo.resolve()
    if args.before is not None:
        args.before = args.before.resolve()
        if args.only == "peer":
            p.error("--before measures ours: not with --only peer")
        newer = sorted(migrations(args.before) - migrations(args.repo))
        if newer:
            p.error(
                f"{args.before} has migrations {args.repo} lacks ({', '.join(newer)}); the "
                "database is migrated by --repo's code: swap them or pass --repo"
            )
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", args.db_name):
        p.error("--db-name must be a plain lower-case PostgreSQL identifier")
    if min(args.rounds, args.duration, args.connections, args.threads) < 1 or args.warmup < 0:
        p.error("--rounds, --duration, --connections, --threads must be >= 1")
    if args.duration > 120 or args.rounds > 50:
        p.error("keep runs bounded: --duration <= 120 and --rounds <= 50")
    extra: dict[str, str] = {}
    for item in args.ours_env:
        key, sep, value = item.partition("=")
        if not sep or not key:
            p.error(f"--ours-env expects KEY=VALUE, got {item!r}")
        extra[key] = value
    args.ours_env = extra
    return args


def round_order(contenders: list[Contender], i: int) -> list[Contender]:
    """The order of round ``i`` (from 0): rotated each round so no server always runs
    first; with --before each setting's ours and before run one after the other, which of
    the two goes first alternating."""
    groups: list[list[Contender]] = []
    for c in contenders:
        if c.kind == "before":
            groups[-1].append(c)  # started right after the ours it is measured against
        else:
            groups.append([c])
    shift = i % len(groups)
    return [c for group in groups[shift:] + groups[:shift] for c in group[:: -1 if i % 2 else 1]]


@contextmanager
def terminate_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM into SystemExit so servers and the database get cleaned up."""

    def handler(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    """Check, start, verify, warm up, measure interleaved, report, clean up."""
    args = parse_args(argv)
    want_ours = args.only in ("both", "ours")
    want_peer = args.only in ("both", "peer")
    workdir = Path(tempfile.mkdtemp(prefix="kentcard-bench-"))
    contenders: list[Contender] = []
    ours_setup: OursSetup | None = None
    before_setup: OursSetup | None = None
    db_created = False
    with terminate_on_sigterm():
        try:
            # Everything that can be missing is checked before any server starts.
            wrk = ensure_wrk() if not args.check else shutil.which("wrk") or "wrk"
            if want_ours:
                ours_setup = check_ours(
                    args.repo, args.pg_url, args.db_name, args.ours_env, workdir, args.server
                )
            if args.before is not None:
                before_setup = check_ours(
                    args.before, args.pg_url, args.db_name, args.ours_env, workdir, args.server
                )
            if want_peer:
                ensure_peer_installed()
            log(f"server logs: {workdir}")
            if ours_setup is not None:
                prepare_ours(ours_setup)
                db_created = True
                sides = [("ours", ours_setup)]
                if before_setup is not None:
                    # The same database, secret key (it seals the signing key) and client.
                    before_setup.secret_key = ours_setup.secret_key
                    before_setup.client_id = ours_setup.client_id
                    before_setup.client_secret = ours_setup.client_secret
                    sides.append(("before", before_setup))
                for server in args.server:
                    for n in args.workers:
                        for side, setup in sides:
                            if server == "granian":
                                for t in args.granian_threads:
                                    log(f"starting {side}: granian, {n} workers x {t} threads")
                                    contenders.append(
                                        start_ours_granian(setup, n, t, workdir, side)
                                    )
                            else:
                                log(f"starting {side}: gunicorn, {n} x {args.gunicorn_threads}")
                                contenders.append(
                                    start_ours(setup, n, args.gunicorn_threads, workdir, side)
                                )
            if want_peer:
                for n in args.peer_processes:
                    log(f"starting peer ({n} process{'es' if n > 1 else ''}) ...")
                    contenders.append(start_peer(n, workdir))
            for c in contenders:
                log(f"verify {c.name}: {verify_token_endpoint(c)}")
            if args.check:
                log("check passed: every server issues JWT access tokens with HTTP 200")
                return 0
            if args.warmup:
                for c in contenders:
                    log(f"warm-up {c.name} ({args.warmup}s) ...")
                    res = run_wrk(
                        wrk,
                        c,
                        duration=args.warmup,
                        connections=args.connections,
                        threads=args.threads,
                    )
                    check_result(c, res)
            for i in range(args.rounds):
                for c in round_order(contenders, i):
                    load = os.getloadavg()[0]
                    cpu_before = group_cpu_seconds(c.process.pid)
                    res = run_wrk(
                        wrk,
                        c,
                        duration=args.duration,
                        connections=args.connections,
                        threads=args.threads,
                    )
                    res.cpu_s = group_cpu_seconds(c.process.pid) - cpu_before
                    check_result(c, res)
                    res.load_avg = load
                    c.results.append(res)
                    log(
                        f"round {i + 1}/{args.rounds} {c.name:<19} {res.rps:9.1f} req/s  "
                        f"p99 {res.p99_ms:8.2f} ms  cpu {res.cpu_us_per_request:6.0f} us/req"
                    )
            summary = summarize(contenders, args)
            if args.json_out:
                args.json_out.write_text(json.dumps(summary, indent=2, default=str) + "\n")
                log(f"figures written to {args.json_out}")
            if args.require_target and any(v < args.target for v in summary["ratios"].values()):
                return 1
            return 0
        except BenchError as exc:
            fail(str(exc))
        except KeyboardInterrupt:
            fail("interrupted", code=130)
        finally:
            for c in contenders:
                stop_process(c.process)
            if ours_setup is not None and db_created and not args.keep_db:
                try:
                    reset_database(ours_setup, "drop")
                except BenchError as exc:
                    log(f"warning: {exc}")


if __name__ == "__main__":
    sys.exit(main())
