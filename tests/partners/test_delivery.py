"""The delivery worker: SETs pushed to a real local webhook, retries, dead letters, crashes."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import pytest
from flask import Flask
from joserfc.errors import BadSignatureError
from sqlalchemy import select

from idservice.config import Settings
from idservice.db import db_session
from idservice.models.base import utcnow
from idservice.models.partners import Partner, PartnerEvent
from idservice.models.residents import Resident
from idservice.oauth.claims import pairwise_sub
from idservice.oauth.dao import dao_save_consent
from idservice.partners.delivery import Backoff, Worker, claim
from idservice.partners.secevent import EVENT_URI_BASE
from idservice.services import life_events
from tests.accounts.conftest import in_app
from tests.partners.conftest import PartnerInfo, decode_set, grant, outbox_rows
from tests.partners.receiver import Receiver

REGISTRAR = life_events.Notifier("registrar", "registrar-feed")
ROOT = Path(__file__).resolve().parents[2]


def _worker(app: Flask, **overrides: object) -> Worker:
    values: dict[str, object] = {
        "engine": app.extensions["kentcard_engine"],
        "keys": app.extensions["kentcard_oauth_keys"],
        "issuer": app.config["KENTCARD"].issuer,
        "batch": 10,
        "concurrency": 4,
        "timeout": 5.0,
    }
    values.update(overrides)
    return Worker(**values)  # type: ignore[arg-type]


def _deaths(app: Flask, make_resident: Callable[..., Resident], count: int) -> list[str]:
    ids = []
    for _ in range(count):
        resident = make_resident()
        grant(app, resident.id, "bus-pass-older")
        with in_app(app):
            life_events.record_death(REGISTRAR, resident.id, date.today())
        ids.append(resident.id)
    return ids


def test_worker_pushes_signed_sets_the_partner_can_verify(
    app: Flask,
    make_resident: Callable[..., Resident],
    make_partner: Callable[..., PartnerInfo],
    receiver: Receiver,
) -> None:
    partner = make_partner(receiver.url, services=["bus-pass-older"])
    [resident_id] = _deaths(app, make_resident, 1)
    worker = _worker(app)
    try:
        report = worker.run(once=True)
    finally:
        worker.close()

    assert (report.delivered, report.retrying, report.dead) == (2, 0, 0)
    assert receiver.content_types == ["application/secevent+jwt"] * 2
    subject = pairwise_sub(app.config["KENTCARD"], partner.sector, resident_id)
    seen = {}
    for token in receiver.tokens:
        header, claims = decode_set(app, token)  # signature checked against the JWKS
        assert header["typ"] == "secevent+jwt" and header["alg"] == "ES256"
        assert claims["iss"] == app.config["KENTCARD"].issuer
        assert claims["aud"] == partner.client_id
        assert claims["sub"] == subject == claims["sub_id"]["id"]
        assert "exp" not in claims and isinstance(claims["iat"], int)
        [(uri, body)] = claims["events"].items()
        seen[uri] = body
        assert resident_id not in token
    assert seen == {
        EVENT_URI_BASE + "death": {"occurred_on": date.today().isoformat()},
        EVENT_URI_BASE + "entitlement-ended": {
            "service": "bus-pass-older",
            "ended_on": date.today().isoformat(),
            "reason": "death",
        },
    }
    rows = outbox_rows(app)
    assert {r.status for r in rows} == {"delivered"}
    assert {r.jti for r in rows} == {decode_set(app, t)[1]["jti"] for t in receiver.tokens}
    assert all(r.attempts == 1 and r.last_status == 202 for r in rows)


def test_a_tampered_token_does_not_verify(
    app: Flask,
    make_resident: Callable[..., Resident],
    make_partner: Callable[..., PartnerInfo],
    receiver: Receiver,
) -> None:
    """The JWKS check in these tests can fail: a changed payload is refused."""
    make_partner(receiver.url, services=["bus-pass-older"])
    _deaths(app, make_resident, 1)
    worker = _worker(app)
    try:
        worker.run(once=True)
    finally:
        worker.close()
    header, payload, signature = receiver.tokens[0].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["aud"] = "another-partner"
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(BadSignatureError):
        decode_set(app, f"{header}.{forged_payload}.{signature}")


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    backoff = Backoff(base=30, factor=2, cap=3600, max_attempts=5)
    assert [backoff.step(n) for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert backoff.step(20) == 3600
    assert backoff.delay(3, rand=lambda: 0.0) == 60
    assert backoff.delay(3, rand=lambda: 1.0) == 120
    delays = {backoff.delay(2) for _ in range(50)}
    assert all(30 <= d <= 60 for d in delays) and len(delays) > 1


def test_a_failed_delivery_is_retried_later_then_delivered(
    app: Flask,
    make_resident: Callable[..., Resident],
    make_partner: Callable[..., PartnerInfo],
    receiver: Receiver,
) -> None:
    make_partner(receiver.url, services=[], events=["death"])
    resident = make_resident()
    with in_app(app):
        # Connected by a consent alone (no service of the partner's held).
        partner = db_session.scalars(select(Partner)).one()
        dao_save_consent(resident.id, partner.client_id, "openid")
        db_session.commit()
        life_events.record_death(REGISTRAR, resident.id, date.today())
    receiver.respond = lambda _token: 503
    worker = _worker(app, backoff=Backoff(base=30, max_attempts=5))
    try:
        before = utcnow()
        report = worker.run(once=True)
        [row] = outbox_rows(app)
        assert (report.delivered, report.retrying) == (0, 1)
        assert (row.status, row.attempts, row.last_status) == ("pending", 1, 503)
        assert row.last_error is not None and "503" in row.last_error
        assert before + timedelta(seconds=15) <= row.next_attempt_at
        assert row.next_attempt_at <= utcnow() + timedelta(seconds=30)
        # Not due yet: a run now sends nothing.
        assert worker.run(once=True).delivered == 0
        # Due: the partner is back and takes it, with the same jti.
        with in_app(app):
            db_session.execute(
                PartnerEvent.__table__.update().values(next_attempt_at=utcnow())  # type: ignore[attr-defined]
            )
            db_session.commit()
        receiver.respond = lambda _token: 202
        assert worker.run(once=True).delivered == 1
    finally:
        worker.close()
    [row] = outbox_rows(app)
    assert (row.status, row.attempts) == ("delivered", 2)
    assert decode_set(app, receiver.tokens[0])[1]["jti"] == row.jti


def test_after_max_attempts_an_event_is_dead_lettered(
    app: Flask,
    make_resident: Callable[..., Resident],
    make_partner: Callable[..., PartnerInfo],
) -> None:
    # Nothing listens on this port: connection refused every time.
    closed = Receiver()
    url = closed.url
    closed.server.server_close()
    make_partner(url, services=["bus-pass-older"])
    _deaths(app, make_resident, 1)
    worker = _worker(app, backoff=Backoff(base=0, max_attempts=3))
    try:
        report = worker.run(once=True)
    finally:
        worker.close()
    assert report.dead == 2
    rows = outbox_rows(app)
    assert {(r.status, r.attempts) for r in rows} == {("dead", 3)}
    assert all(r.last_error and "Connection" in r.last_error for r in rows)
    # Dead letters stay dead: a later run does not touch them.
    worker = _worker(app, backoff=Backoff(base=0, max_attempts=3))
    try:
        assert worker.run(once=True).batches == 0
    finally:
        worker.close()


def test_two_workers_never_claim_the_same_rows(
    app: Flask,
    make_resident: Callable[..., Resident],
    make_partner: Callable[..., PartnerInfo],
    receiver: Receiver,
) -> None:
    make_partner(receiver.url, services=["bus-pass-older"])
    _deaths(app, make_resident, 6)
    engine = app.extensions["kentcard_engine"]
    claims: list[list[int]] = [[], []]
    barrier = threading.Barrier(2)

    def take(slot: int) -> None:
        barrier.wait()
        while batch := claim(engine, 1, 60):
            claims[slot].extend(row.id for row in batch)

    threads = [threading.Thread(target=take, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not set(claims[0]) & set(claims[1])
    assert len(claims[0]) + len(claims[1]) == 12

    # And whole workers side by side deliver each event exactly once when nothing fails.
    with in_app(app):
        db_session.execute(
            PartnerEvent.__table__.update().values(lease_until=None, attempts=0)  # type: ignore[attr-defined]
        )
        db_session.commit()
    workers = [_worker(app, batch=2, concurrency=2) for _ in range(2)]
    runs = [threading.Thread(target=w.run, kwargs={"once": True}) for w in workers]
    for t in runs:
        t.start()
    for t in runs:
        t.join()
    for w in workers:
        w.close()
    jtis = [decode_set(app, t)[1]["jti"] for t in receiver.tokens]
    assert len(jtis) == len(set(jtis)) == 12


def _env(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "KENTCARD_DATABASE_URL": settings.database_url,
        "KENTCARD_SECRET_KEY": settings.secret_key,
        "KENTCARD_INSTANCE_PATH": str(settings.instance_path),
        "KENTCARD_ISSUER": settings.issuer,
    }


def _start_worker(settings: Settings, *extra: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "idservice.cli", "events", "deliver", *extra]
    return subprocess.Popen(
        command, env=_env(settings), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def test_killing_the_worker_mid_delivery_loses_nothing(
    app: Flask,
    settings: Settings,
    make_resident: Callable[..., Resident],
    make_partner: Callable[..., PartnerInfo],
) -> None:
    receiver = Receiver(delay=0.05).start()
    try:
        make_partner(receiver.url, services=["bus-pass-older"])
        _deaths(app, make_resident, 12)
        expected = {r.jti for r in outbox_rows(app)}
        assert len(expected) == 24

        first = _start_worker(
            settings, "--batch", "4", "--concurrency", "2", "--lease", "2", "--poll", "0.05"
        )
        deadline = time.monotonic() + 60
        while receiver.count() < 6 and time.monotonic() < deadline and first.poll() is None:
            time.sleep(0.01)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        assert first.returncode == -signal.SIGKILL, first.stderr.read() if first.stderr else ""
        at_kill = receiver.count()
        leased = [r for r in outbox_rows(app) if r.status == "pending" and r.lease_until]
        assert 6 <= at_kill < 24
        assert leased, "the worker was killed with a batch in hand"

        second = _start_worker(settings, "--batch", "4", "--lease", "2", "--poll", "0.1")
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if all(r.status == "delivered" for r in outbox_rows(app)):
                    break
                time.sleep(0.1)
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(20)
        assert second.returncode == 0, second.stderr.read() if second.stderr else ""
    finally:
        receiver.stop()

    assert {r.status for r in outbox_rows(app)} == {"delivered"}
    received = [decode_set(app, t)[1]["jti"] for t in receiver.tokens]
    assert set(received) == expected  # every event at least once, none lost


def test_the_test_partner_ignores_a_body_cut_short() -> None:
    # A worker killed while posting leaves a partial body behind; the test partner, like a
    # real one, must not record it as an event (it once did, and a delivery test failed on
    # a token cut in half rather than on anything the service did).
    receiver = Receiver().start()
    try:
        with socket.create_connection(("127.0.0.1", receiver.port)) as conn:
            conn.sendall(
                b"POST /events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/secevent+jwt\r\nContent-Length: 100\r\n\r\n"
                b"eyJhbGciOiJFUzI1NiJ9.eyJq"
            )
            conn.shutdown(socket.SHUT_WR)
            conn.settimeout(5)
            while conn.recv(1024):
                pass
    finally:
        receiver.stop()
    assert receiver.tokens == []
