"""Do the pages that take an email address answer as fast for one with an account as for
one without? (issue 10, finding 3: registering an address in use took about 6.5 ms and a
new one about 141 ms, because only new passwords were hashed, so the time told who has an
account.)

For each of registration, sign-in with a wrong password and asking for a password reset,
the real app (production argon2id parameters, an embedded SQLite database built by the
migrations) answers ``--rounds`` requests for addresses with an account and as many for
addresses without, interleaved so that a busy machine slows both alike, each from a fresh
source address so that neither the rate limits nor the sign-in throttle apply. It prints
the median time of each and their ratio: 1.00 means the time tells nothing.

    .venv/bin/python benchmarks/password_paths/run.py [--rounds 15]
"""

from __future__ import annotations

import argparse
import logging
import re
import secrets
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from flask import Flask  # noqa: E402
from flask.testing import FlaskClient  # noqa: E402

from idservice import create_app, migrate  # noqa: E402
from idservice.config import Settings  # noqa: E402
from idservice.db import db_session  # noqa: E402
from idservice.services.residents import create_resident  # noqa: E402

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
PASSWORD = "correct horse battery staple"


def _registration(email: str) -> dict[str, str]:
    return {
        "given_name": "Ada",
        "family_name": "Lovelace",
        "date_of_birth-day": "10",
        "date_of_birth-month": "12",
        "date_of_birth-year": "1985",
        "address_line_1": "1 High Street",
        "town": "Maidstone",
        "postcode": "ME14 1XX",
        "email": email,
        "password": "a long enough password",
        "password_confirm": "a long enough password",
    }


def _client(app: Flask, number: int) -> FlaskClient:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = f"10.{number // 250}.{number % 250}.1"
    return client


def _timed_post(client: FlaskClient, url: str, data: dict[str, Any]) -> float:
    match = CSRF.search(client.get(url).get_data(as_text=True))
    assert match, f"no CSRF token on {url}"
    started = time.perf_counter()
    response = client.post(url, data={**data, "csrf_token": match.group(1)})
    elapsed = time.perf_counter() - started
    assert response.status_code in (200, 302, 400), (url, response.status_code)
    return elapsed


def _existing(app: Flask, count: int) -> list[str]:
    emails = [f"resident-{secrets.token_hex(4)}@example.com" for _ in range(count)]
    with app.app_context():
        for email in emails:
            create_resident(
                given_name="Ada",
                family_name="Lovelace",
                date_of_birth=date(1956, 12, 10),
                address_line_1="Sessions House",
                town="Maidstone",
                postcode="ME14 1XQ",
                email=email,
                password=PASSWORD,
                actor_type="system",
                actor_id="benchmark",
                channel="system",
            )
        db_session.commit()
        db_session.remove()
    return emails


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kentcard-password-paths-") as folder:
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        migrate.upgrade(url)
        settings = Settings.from_env(
            instance_path=Path(folder) / "instance",
            database_url=url,
            issuer="http://127.0.0.1:5000",
            secret_key=secrets.token_urlsafe(32),
            secure_cookies=False,
        )
        app = create_app(settings)
        logging.disable(logging.INFO)  # without SMTP every email's text is logged at INFO
        existing = _existing(app, args.rounds)
        paths = {
            "/register": (
                lambda n: _registration(existing[n]),
                lambda n: _registration(f"new.{n}.{secrets.token_hex(3)}@example.com"),
            ),
            "/sign-in": (
                lambda n: {"email": existing[n], "password": f"wrong password {n}"},
                lambda n: {"email": f"nobody.{n}@example.com", "password": f"wrong {n}"},
            ),
            "/forgot-password": (
                lambda n: {"email": existing[n]},
                lambda n: {"email": f"nobody.{n}@example.com"},
            ),
        }
        source = 0
        print(f"{'page':<18} {'with an account':>16} {'without':>10} {'ratio':>7}")
        for path, (known, unknown) in paths.items():
            times: dict[str, list[float]] = {"known": [], "unknown": []}
            _timed_post(_client(app, 9999), path, unknown(10_000))  # warm up
            for number in range(args.rounds):
                for kind, data in (("known", known(number)), ("unknown", unknown(number))):
                    source += 1
                    times[kind].append(_timed_post(_client(app, source), path, data))
            with_account = statistics.median(times["known"]) * 1000
            without = statistics.median(times["unknown"]) * 1000
            print(
                f"{path:<18} {with_account:>13.1f} ms {without:>7.1f} ms "
                f"{with_account / without:>7.2f}"
            )
        print(f"medians of {args.rounds} requests each, interleaved; 1.00 = time tells nothing")


if __name__ == "__main__":
    main()
