"""A sweep killed half way (SIGKILL, in a real process) and run again leaves the same result
as one clean run: every batch lands whole or not at all, and nothing is done twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

from flask import Flask
from sqlalchemy import text

from entitlements.ledger import store
from entitlements.ledger.verify import verify
from idservice.db import db_session
from idservice.models.sweep import SWEEP_DONE, SWEEP_RUNNING
from tests.accounts.conftest import in_app
from tests.factories import create_resident
from tests.partners.conftest import make_partner
from tests.services.sweep_helpers import engine_of, notices_of, partner_events, states, sweep_runs

__all__ = ["make_partner"]

EXPIRING = 240
RENEWING = 40
ON = date(2026, 3, 2)


def _residents(app: Flask, count: int) -> list[str]:
    with in_app(app):
        made = [
            create_resident(
                given_name=f"Resident{i}",
                email=f"sweep-{i}@example.com",
                password=None,
            ).id
            for i in range(count)
        ]
    return made


def _grants(app: Flask, residents: list[str]) -> None:
    from entitlements.ledger.events import Channel, EventKind, LedgerEvent
    from idservice.models.base import utcnow

    def grant(resident: str, until: date) -> LedgerEvent:
        return LedgerEvent(
            EventKind.GRANT,
            resident,
            "bus-pass-older",
            "system",
            Channel.SYSTEM,
            "granted for the test",
            utcnow(),
            valid_from=until - timedelta(days=5 * 365),
            valid_until=until,
        )

    events = [grant(r, ON - timedelta(days=1 + i % 3)) for i, r in enumerate(residents[:EXPIRING])]
    events += [grant(r, ON + timedelta(days=20)) for r in residents[EXPIRING:]]
    store.append(engine_of(app), events)


def _expired_so_far(app: Flask) -> int:
    with in_app(app):
        return int(
            db_session.execute(
                text("SELECT count(*) FROM ledger_events WHERE kind = 'expire'")
            ).scalar_one()
        )


def _sweep_process(app: Flask, tmp_path: Path) -> subprocess.Popen[bytes]:
    settings = app.config["KENTCARD"]
    env = {
        **os.environ,
        "KENTCARD_DATABASE_URL": settings.database_url,
        "KENTCARD_INSTANCE_PATH": str(tmp_path),
        "KENTCARD_SECRET_KEY": settings.secret_key,
        "KENTCARD_SWEEP_BATCH_SIZE": "2",
    }
    command = [sys.executable, "-m", "idservice.cli", "entitlements", "sweep", "--on", str(ON)]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_a_sweep_killed_half_way_and_run_again_is_one_clean_run(
    app: Flask, tmp_path: Path, make_partner: object
) -> None:
    make_partner("https://bus.example/events", services=["bus-pass-older"])  # type: ignore[operator]
    residents = _residents(app, EXPIRING + RENEWING)
    _grants(app, residents)

    process = _sweep_process(app, tmp_path)
    deadline = time.monotonic() + 120
    while _expired_so_far(app) < 20 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL, "the sweep ended before it could be killed"
    half = _expired_so_far(app)
    assert 20 <= half < EXPIRING  # killed half way: some batches in, the rest not
    assert half % 2 == 0  # whole batches only (two entitlements each)
    [killed] = sweep_runs(app)
    assert killed.status == SWEEP_RUNNING

    again = _sweep_process(app, tmp_path)
    _, err = again.communicate(timeout=300)
    assert again.returncode == 0, err.decode()

    # The result of one clean run: every pass that ended expired exactly once, told once.
    held = states(app)
    assert sum(1 for s, _ in held.values() if s == "expired") == EXPIRING
    assert sum(1 for s, _ in held.values() if s == "active") == RENEWING
    assert _expired_so_far(app) == EXPIRING
    expired = notices_of(app, "entitlement-expired")
    assert sorted(n.resident_id for n in expired) == sorted(residents[:EXPIRING])
    invited = notices_of(app, "renewal-due")
    assert sorted(n.resident_id for n in invited) == sorted(residents[EXPIRING:])
    told = [e for e in partner_events(app) if e.event_type == "entitlement-ended"]
    assert len(told) == EXPIRING and len({e.subject for e in told}) == EXPIRING
    [done] = sweep_runs(app)
    assert (done.status, done.runs) == (SWEEP_DONE, 2)
    assert verify(engine_of(app), {}).ok
    before = store.states(engine_of(app))
    store.rebuild(engine_of(app))  # the projection is exactly the fold of the events
    assert store.states(engine_of(app)) == before
