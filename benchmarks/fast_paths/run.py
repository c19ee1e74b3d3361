"""CPU and Python calls per request of the three fast paths, in one process, two checkouts.

The server benchmarks (``make bench-token``, ``bench-taps``, ``bench-checks``) measure
what a client sees; on a shared 2-core machine their ratios move by tens of percent with
the neighbours. This one calls each checkout's WSGI app directly (no server, no network)
on the Kent-scale database (:mod:`benchmarks.kent_scale`) and reports, per request kind:

* **CPU per request**: ``time.process_time`` over ``--requests`` requests, the median of
  ``--rounds`` rounds, the two checkouts alternating round by round (each in a process of
  its own, started once);
* **calls per request**: Python function calls counted by ``cProfile`` over the same
  number of requests: a figure the neighbours cannot move, so a change that adds work
  shows here even when the timings are noise.

Request kinds: a ``client_credentials`` token, a tap (a genuine card answer over a fresh
challenge, 80 % transport), a partner check by card number (half ``library``, half
``bus-pass-older``). Every answer must be 200.

    .venv/bin/python benchmarks/fast_paths/run.py --before PATH [--rounds 5] [--requests 500]

``--before PATH`` is another checkout with its own ``.venv`` (``make setup`` there); the
database must already exist (``make bench-taps`` builds it).
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
KINDS = ("token", "tap", "check")
CHECK_SCOPE = "entitlements:library:check entitlements:bus-pass-older:check"


# -- the worker: one checkout's app in this process ---------------------------------------


class Worker:
    def __init__(self, clients: dict[str, Any], seed: int) -> None:
        from benchmarks.kent_scale import open_existing

        scale = open_existing(
            os.environ["KENTCARD_DATABASE_URL"], Path(os.environ["KENTCARD_INSTANCE_PATH"])
        )
        if scale is None:
            raise SystemExit("the Kent-scale database is missing: run `make bench-taps` first")
        self.scale = scale
        from idservice import create_app

        self.app = create_app()
        self.rng = random.Random(seed)
        self.status: list[str] = []
        self.reader = self._basic(clients["reader"])
        self.partner = self._basic(clients["partner"])
        self.tap_bearer = "Bearer " + self._token(self.reader, "taps:write")
        self.check_bearer = "Bearer " + self._token(self.partner, CHECK_SCOPE)

    @staticmethod
    def _basic(client: dict[str, Any]) -> str:
        pair = f"{client['client_id']}:{client['client_secret']}".encode()
        return "Basic " + base64.b64encode(pair).decode()

    def _environ(self, path: str, body: bytes, auth: str, kind: str) -> dict[str, Any]:
        return {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": path,
            "QUERY_STRING": "",
            "SCRIPT_NAME": "",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "5000",
            "HTTP_HOST": "127.0.0.1:5000",
            "REMOTE_ADDR": "127.0.0.1",
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "HTTP_AUTHORIZATION": auth,
            "CONTENT_TYPE": kind,
            "CONTENT_LENGTH": str(len(body)),
        }

    def _start(self, status: str, _headers: Any) -> None:
        self.status.append(status)

    def _send(self, path: str, body: bytes, auth: str, kind: str) -> bytes:
        environ = self._environ(path, body, auth, kind)
        return b"".join(self.app.wsgi_app(environ, self._start))  # type: ignore[arg-type]

    def _token(self, auth: str, scope: str) -> str:
        body = f"grant_type=client_credentials&scope={scope.replace(' ', '+')}".encode()
        answer = self._send("/oauth/token", body, auth, "application/x-www-form-urlencoded")
        return str(json.loads(answer)["access_token"])

    def requests(self, kind: str, n: int) -> list[tuple[str, bytes, str, str]]:
        from cardio.verify import new_challenge

        made = []
        form, js = "application/x-www-form-urlencoded", "application/json"
        for _ in range(n):
            i = self.rng.randrange(self.scale.count)
            if kind == "token":
                made.append(
                    (
                        "/oauth/token",
                        b"grant_type=client_credentials&scope=taps%3Awrite",
                        self.reader,
                        form,
                    )
                )
            elif kind == "tap":
                challenge = new_challenge(time.time())
                body = {
                    "select_answer": self.scale.select_answer(i).hex(),
                    "challenge": challenge.hex(),
                    "signature": self.scale.tap_answer(i, challenge).hex(),
                    "mode": "transport" if self.rng.random() < 0.8 else "library",
                }
                made.append(("/api/v1/taps", json.dumps(body).encode(), self.tap_bearer, js))
            else:
                service = "library" if self.rng.random() < 0.5 else "bus-pass-older"
                body = {"card_number": self.scale.card_number(i)}
                path = f"/api/v1/checks/{service}/by-card-number"
                made.append((path, json.dumps(body).encode(), self.check_bearer, js))
        return made

    def measure(self, kind: str, n: int) -> dict[str, float]:
        import cProfile
        import pstats

        warm = self.requests(kind, max(50, n // 5))
        for request in warm:
            self._send(*request)
        batch = self.requests(kind, n)
        self.status.clear()
        started = time.process_time()
        for request in batch:
            self._send(*request)
        cpu = (time.process_time() - started) / n * 1e6
        profiled = self.requests(kind, n)
        profile = cProfile.Profile()
        profile.enable()
        for request in profiled:
            self._send(*request)
        profile.disable()
        bad = [s for s in self.status if not s.startswith("200")]
        if bad:
            raise SystemExit(f"{kind}: {len(bad)} answers were not 200, e.g. {bad[0]}")
        calls = pstats.Stats(profile).total_calls / n  # type: ignore[attr-defined]
        return {"cpu_us": cpu, "calls": calls}


def worker_main() -> None:
    """Read ``KIND N`` lines on stdin, answer each with one JSON line."""
    clients = json.loads(os.environ["FAST_PATHS_CLIENTS"])
    worker = Worker(clients, int(os.environ.get("FAST_PATHS_SEED", "1")))
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        kind, n = line.split()
        print(json.dumps(worker.measure(kind, int(n))), flush=True)


# -- the driver ----------------------------------------------------------------------------


def make_client(bin_dir: Path, env: dict[str, str], *options: str) -> dict[str, Any]:
    made = subprocess.run(
        [str(bin_dir / "kentcard"), "clients", "create", *options, "--json"],
        env=env, capture_output=True, text=True, check=False, cwd=REPO,
    )  # fmt: skip
    if made.returncode != 0:
        raise SystemExit(f"kentcard clients create failed: {made.stderr or made.stdout}")
    return json.loads(made.stdout)  # type: ignore[no-any-return]


def start_worker(root: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    python = root / ".venv" / "bin" / "python"
    process = subprocess.Popen(
        [str(python), str(HERE / "run.py"), "--worker"],
        cwd=root,
        env={**env, "PYTHONPATH": str(root)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line or not json.loads(line).get("ready"):
        raise SystemExit(f"the worker for {root} did not start")
    return process


def ask(process: subprocess.Popen[str], kind: str, n: int) -> dict[str, float]:
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(f"{kind} {n}\n")
    process.stdin.flush()
    line = process.stdout.readline()
    if not line:
        raise SystemExit("a worker stopped: see its output above")
    return json.loads(line)  # type: ignore[no-any-return]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="the other checkout (with .venv)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432")
    parser.add_argument("--db-name", default="kentcard_kent_scale")
    parser.add_argument(
        "--instance", default=str(Path(tempfile.gettempdir()) / "kentcard-kent-scale")
    )
    args = parser.parse_args()
    before = Path(args.before).resolve()
    env = {
        **os.environ,
        "KENTCARD_DATABASE_URL": f"{args.pg_url}/{args.db_name}",
        "KENTCARD_INSTANCE_PATH": args.instance,
        "KENTCARD_ISSUER": "http://127.0.0.1:5000",
        "AUTHLIB_INSECURE_TRANSPORT": "1",
    }
    bin_dir = REPO / ".venv" / "bin"
    clients = {
        "reader": make_client(bin_dir, env, "--name", "fast paths reader", "--grant",
                              "client_credentials", "--scope", "taps:write"),
        "partner": make_client(bin_dir, env, "--partner", "--name", "fast paths partner",
                               "--contact-email", "bench@fast-paths.kentcard.example",
                               "--sector", "fast-paths.kentcard.example",
                               "--check", "library", "--check", "bus-pass-older"),
    }  # fmt: skip
    env["FAST_PATHS_CLIENTS"] = json.dumps(clients)
    workers = {"after": start_worker(REPO, env), "before": start_worker(before, env)}
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    try:
        for number in range(args.rounds):
            order = ("after", "before") if number % 2 == 0 else ("before", "after")
            for kind in KINDS:
                for name in order:
                    results.setdefault((name, kind), []).append(
                        ask(workers[name], kind, args.requests)
                    )
            print(f"round {number + 1}/{args.rounds} done", file=sys.stderr, flush=True)
    finally:
        for process in workers.values():
            process.terminate()
    one, five, _ = os.getloadavg()
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"date: {when}; load {one:.1f} (5 min {five:.1f})")
    print(f"before: {before}; after: {REPO}; {args.rounds} rounds x {args.requests} requests")
    print(f"{'':8}{'CPU us/request':>34}{'calls/request':>30}")
    print(
        f"{'kind':8}{'before':>12}{'after':>11}{'ratio':>11}{'before':>12}{'after':>10}{'ratio':>8}"
    )
    for kind in KINDS:
        cpu = {n: statistics.median(r["cpu_us"] for r in results[(n, kind)]) for n in workers}
        calls = {n: statistics.median(r["calls"] for r in results[(n, kind)]) for n in workers}
        print(
            f"{kind:8}{cpu['before']:12.0f}{cpu['after']:11.0f}{cpu['after'] / cpu['before']:11.2f}"
            f"{calls['before']:12.1f}{calls['after']:10.1f}{calls['after'] / calls['before']:8.3f}"
        )
    return 0


if __name__ == "__main__":
    if "--worker" in sys.argv:
        worker_main()
    else:
        sys.exit(main())
