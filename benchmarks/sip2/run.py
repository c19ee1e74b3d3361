"""SIP2 patron status latency with 20 concurrent kiosk connections at Kent scale (issue 13).

The bridge (``kentcard sip2 serve``) runs as in production, in its own process, on a copy
of the Kent-scale PostgreSQL database (:mod:`benchmarks.kent_scale`: 1.6 million residents
with an active Kent Card each, 90 % of them library members). Every look-up writes a
``partner_queries`` row and an audit record, so the benchmark never touches the shared
database: it makes ``--db-name`` from it with ``CREATE DATABASE ... TEMPLATE`` (once;
``--refresh-copy`` makes it again) and migrates the copy to this checkout's head.

A kiosk is registered in the copy (``kentcard sip2 kiosks add``). ``--connections``
connections (default 20, the issue's figure) log in as it and send patron status requests
(``23``, with checksums and sequence numbers) for random card numbers, 1 in 50 of them
unknown. The load generator is this process (asyncio), timing each request from just
before its frame is sent to the end of its answer. Two loads per round:

* **paced**: each connection sends on a fixed schedule so that together they offer
  each of ``--rates`` requests/s (default 100 and 400: each of 20 kiosks every 200 ms,
  and every 50 ms; a kiosk serving a queue looks up a patron every few seconds at most,
  so 20 of them ask about 10 times a second);
* **saturated**: each connection sends its next request as soon as its answer is in.

It prints the median and p99 of each load per round, and the medians over rounds.

    .venv/bin/python benchmarks/sip2/run.py [--rounds 3] [--duration 15] [--connections 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO))

from benchmarks import serving  # noqa: E402
from benchmarks.kent_scale import (  # noqa: E402
    KentScale,
    database_exists,
    open_existing,
    recreate,
    upgrade_existing,
)
from benchmarks.serving import free_port, load_line, log  # noqa: E402
from idservice.sip2 import codec  # noqa: E402

BIN = serving.BIN
TARGET_P99_MS = 20.0
UNKNOWN_SHARE = 0.02
LOGIN = "bench-kiosk"


# -- the database copy ---------------------------------------------------------------------


def prepare(args: argparse.Namespace) -> tuple[str, KentScale]:
    """The copy's URL (made from the template when missing or asked) and its data."""
    import psycopg

    url = serving_url(args.pg_url, args.db_name)
    if args.refresh_copy or not database_exists(args.pg_url, args.db_name):
        for attempt in range(args.copy_attempts):
            try:
                log(f"copying {args.template} into {args.db_name} (CREATE DATABASE ... TEMPLATE)")
                started = time.monotonic()
                recreate(args.pg_url, args.db_name, Path(args.instance), template=args.template)
                log(f"copied in {time.monotonic() - started:.0f} s")
                break
            except psycopg.errors.ObjectInUse:
                log(f"{args.template} is in use; trying again in 30 s ({attempt + 1})")
                time.sleep(30)
        else:
            raise SystemExit(f"{args.template} stayed in use: no copy made")
    upgrade_existing(url)
    scale = open_existing(url, Path(args.instance))
    if scale is None:
        raise SystemExit(f"{args.db_name} does not hold the data {args.instance} describes")
    return url, scale


def serving_url(admin_url: str, db_name: str) -> str:
    from benchmarks.kent_scale import database_url

    return database_url(admin_url, db_name)


# -- the bridge ------------------------------------------------------------------------------


def environment(url: str, instance: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(KENTCARD_DATABASE_URL=url, KENTCARD_INSTANCE_PATH=str(instance))
    return env


def register_kiosk(env: dict[str, str]) -> str:
    """The bench kiosk's password (registered on first use, a new password after)."""
    kentcard = str(BIN / "kentcard")
    listed = subprocess.run(
        [kentcard, "sip2", "kiosks", "list", "--json"], env=env, check=True, capture_output=True
    )
    if any(row["login"] == LOGIN for row in json.loads(listed.stdout)):
        out = subprocess.run(
            [kentcard, "sip2", "kiosks", "update", LOGIN, "--new-password", "--unlock"],
            env=env, check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
        return out.rsplit(": ", 1)[1].strip()
    out = subprocess.run(
        [kentcard, "sip2", "kiosks", "add", "--name", "Benchmark kiosk", "--login", LOGIN,
         "--location", "Benchmark", "--institution", "KENT", "--json"],
        env=env, check=True, capture_output=True,
    ).stdout  # fmt: skip
    return str(json.loads(out)["password"])


def start_bridge(env: dict[str, str], port: int, workers: int) -> subprocess.Popen[bytes]:
    command = [
        str(BIN / "kentcard"), "sip2", "serve", "--port", str(port), "--db-connections",
        str(workers), "--max-connections", "64",
    ]  # fmt: skip
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the bridge stopped: {process.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        try:
            with __import__("socket").create_connection((serving.HOST, port), timeout=1):
                return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the bridge did not start listening")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- the kiosks ------------------------------------------------------------------------------


class Kiosk:
    """One SIP2 connection, as a self-service kiosk uses it."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.sequence = 0

    @classmethod
    async def connect(cls, port: int, password: str) -> Kiosk:
        reader, writer = await asyncio.open_connection(serving.HOST, port)
        kiosk = cls(reader, writer)
        answer = await kiosk.ask(f"9300CN{LOGIN}|CO{password}|")
        if not answer.startswith(b"941"):
            raise SystemExit(f"the bench kiosk was refused: {answer!r}")
        return kiosk

    async def ask(self, text: str) -> bytes:
        self.sequence = (self.sequence + 1) % 10
        body = f"{text}AY{self.sequence}AZ".encode()
        self.writer.write(body + codec.checksum(body).encode() + b"\r")
        return await self.reader.readuntil(b"\r")

    async def patron_status(self, card_number: str) -> bytes:
        stamp = codec.timestamp()
        return await self.ask(f"23000{stamp}AOKENT|AA{card_number}|AC|AD|")

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


@dataclass
class Load:
    name: str
    latencies: list[float]
    seconds: float
    wrong: int

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def quantile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0.0


def pick(scale: KentScale, rng: random.Random) -> tuple[str, bool]:
    """A card number and whether its holder is a library member."""
    if rng.random() < UNKNOWN_SHARE:
        return f"98260199{rng.randrange(10**7):07d}0", False  # no such card (check digit too)
    i = rng.randrange(scale.count)
    return scale.card_number(i), "library" in scale.services(i)


async def run_load(
    kiosks: list[Kiosk], scale: KentScale, seconds: float, rate: float | None, seed: int
) -> Load:
    """Every kiosk asks until ``seconds`` are up: on a schedule (``rate`` in all), or
    back to back (``rate`` None)."""
    latencies: list[float] = []
    wrong = 0
    start = time.monotonic()
    stop = start + seconds

    async def one(index: int, kiosk: Kiosk) -> None:
        nonlocal wrong
        rng = random.Random(seed * 1000 + index)
        period = len(kiosks) / rate if rate else 0.0
        due = start + period * index / len(kiosks)
        while True:
            if rate:
                due += period
                pause = due - time.monotonic()
                if pause > 0:
                    await asyncio.sleep(pause)
            if time.monotonic() >= stop:
                return
            card, member = pick(scale, rng)
            sent = time.perf_counter()
            answer = await kiosk.patron_status(card)
            latencies.append(time.perf_counter() - sent)
            if (b"|BLY|" in answer) != member or not answer.startswith(b"24"):
                wrong += 1

    await asyncio.gather(*(one(i, k) for i, k in enumerate(kiosks)))
    return Load("paced" if rate else "saturated", latencies, time.monotonic() - start, wrong)


async def measure(args: argparse.Namespace, port: int, password: str, scale: KentScale,
                  bridge_pid: int) -> list[dict[str, Any]]:  # fmt: skip
    kiosks = [await Kiosk.connect(port, password) for _ in range(args.connections)]
    rows: list[dict[str, Any]] = []
    try:
        await run_load(kiosks, scale, args.warmup, args.rates[0], seed=0)  # warm caches, pools
        for round_no in range(1, args.rounds + 1):
            for rate in [*args.rates, None]:
                cpu_before = cpu_seconds(bridge_pid)
                load = await run_load(kiosks, scale, args.duration, rate, seed=round_no)
                cpu = cpu_seconds(bridge_pid) - cpu_before
                row = {
                    "round": round_no,
                    "load": f"paced {rate:.0f}/s" if rate else "saturated",
                    "requests": len(load.latencies),
                    "rate": round(load.rate),
                    "median_ms": round(load.quantile(0.5), 2),
                    "p99_ms": round(load.quantile(0.99), 2),
                    "max_ms": round(max(load.latencies) * 1000, 1),
                    "cpu_us_per_request": round(cpu / max(1, len(load.latencies)) * 1e6),
                    "wrong_answers": load.wrong,
                }
                rows.append(row)
                log(
                    f"round {round_no} {row['load']:>14}: {row['rate']:>5}/s  median "
                    f"{row['median_ms']:.2f} ms  p99 {row['p99_ms']:.2f} ms  max {row['max_ms']} ms"
                    f"  bridge CPU {row['cpu_us_per_request']} µs/request  wrong {load.wrong}"
                )
    finally:
        for kiosk in kiosks:
            await kiosk.close()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    add = parser.add_argument
    add("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    add("--template", default="kentcard_kent_scale", help="the Kent-scale database (read only)")
    add("--db-name", default="kentcard_sip2_bench", help="the copy the benchmark writes to")
    add("--instance", default="/tmp/kentcard-kent-scale", help="the Kent-scale data folder")  # noqa: S108
    add("--refresh-copy", action="store_true", help="copy the template again")
    add("--copy-attempts", type=int, default=10)
    add("--connections", type=int, default=20)
    add(
        "--rates",
        type=lambda text: [float(v) for v in text.split(",")],
        default=[100.0, 400.0],
        help="paced loads: requests/s of all connections together, comma-separated",
    )
    add("--rounds", type=int, default=3)
    add("--duration", type=float, default=15.0)
    add("--warmup", type=float, default=5.0)
    add("--db-connections", type=int, default=8)
    add("--json-out", default=None)
    args = parser.parse_args()

    url, scale = prepare(args)
    with tempfile.TemporaryDirectory(prefix="kentcard-sip2-bench-") as folder:
        env = environment(url, Path(folder))
        password = register_kiosk(env)
        port = free_port()
        bridge = start_bridge(env, port, args.db_connections)
        log(f"bridge on port {port}, {args.db_connections} database connections; {load_line()}")
        try:
            rows = asyncio.run(measure(args, port, password, scale, bridge.pid))
        finally:
            bridge.terminate()
            try:
                bridge.wait(timeout=10)
            except subprocess.TimeoutExpired:
                bridge.kill()
    print(f"SIP2 patron status, {args.connections} kiosk connections, {scale.count:,} cards;"
          f" {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {load_line()}")  # fmt: skip
    for name in dict.fromkeys(row["load"] for row in rows):
        mine = [row for row in rows if row["load"] == name]
        median = statistics.median
        p99 = median(row["p99_ms"] for row in mine)
        print(
            f"  {name:>14}: {median(r['rate'] for r in mine):.0f} requests/s, median "
            f"{median(r['median_ms'] for r in mine):.2f} ms, p99 {p99:.2f} ms "
            f"(medians of {len(mine)} rounds; target p99 <= {TARGET_P99_MS:.0f} ms: "
            f"{'met' if p99 <= TARGET_P99_MS else 'NOT met'}); bridge CPU "
            f"{median(r['cpu_us_per_request'] for r in mine):.0f} µs/request"
        )
    wrong = sum(row["wrong_answers"] for row in rows)
    if wrong:
        print(f"  {wrong} answers did not match the data (member or not): see above")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(rows, indent=2))
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
