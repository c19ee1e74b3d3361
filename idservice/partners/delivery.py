"""``kentcard events deliver``: push the outbox to partners' webhooks (RFC 8935).

At least once, never lost:

1. **Claim** a batch in a short transaction: rows that are pending, due, and not leased
   to a live worker. PostgreSQL: ``SELECT ... FOR UPDATE SKIP LOCKED`` so several workers
   take different rows; SQLite: ``BEGIN IMMEDIATE`` (one writer at a time) does the same.
   The claim sets ``lease_until`` and counts the attempt, and commits.
2. **Send** each token over keep-alive HTTP, outside any transaction.
3. **Record** the results in one transaction: delivered; or the next attempt after an
   exponential backoff with jitter; or, after ``max_attempts``, dead (left for staff).

A worker killed between 1 and 3 leaves its rows leased; when the lease runs out another
worker takes them again and sends the same ``jti`` (the partner de-duplicates). The lease
must therefore be longer than a batch takes to send: it is at least four timeouts.
"""

from __future__ import annotations

import http.client
import logging
import random
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast
from urllib.parse import urlsplit

from sqlalchemy import Connection, Engine, Table, or_, select, update

from idservice.models.base import utcnow
from idservice.models.partners import (
    DELIVERY_DEAD,
    DELIVERY_DELIVERED,
    DELIVERY_PENDING,
    Partner,
    PartnerEvent,
)
from idservice.oauth.keys import KeyStore
from idservice.partners.secevent import CONTENT_TYPE, set_claims, sign_set

log = logging.getLogger(__name__)

EVENTS = cast(Table, PartnerEvent.__table__)
PARTNERS = cast(Table, Partner.__table__)


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with "equal jitter": half the step fixed, half random.

    Attempt ``n`` (1-based) failed: wait between ``step/2`` and ``step`` where
    ``step = min(cap, base * factor ** (n - 1))``, so retries from many rows that failed
    together spread out instead of arriving at the partner at once.
    """

    base: float = 30.0
    factor: float = 2.0
    cap: float = 6 * 3600.0
    max_attempts: int = 12

    def step(self, attempt: int) -> float:
        return min(self.cap, self.base * self.factor ** max(attempt - 1, 0))

    def delay(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        step = self.step(attempt)
        return step / 2 + rand() * step / 2


@dataclass(frozen=True)
class Claimed:
    id: int
    jti: str
    attempts: int
    event_type: str
    subject: str
    payload: dict[str, Any]
    created_at: datetime
    webhook_url: str
    audience: str


@dataclass
class Result:
    id: int
    attempts: int
    status: int | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass
class Report:
    delivered: int = 0
    retrying: int = 0
    dead: int = 0
    batches: int = 0
    results: list[Result] = field(default_factory=list)


def _begin(conn: Connection) -> None:
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def claim(engine: Engine, batch: int, lease: float, now: datetime | None = None) -> list[Claimed]:
    """Lease up to ``batch`` due rows to this worker; committed before anything is sent."""
    now = now or utcnow()
    with engine.connect() as conn:
        _begin(conn)
        query = (
            select(EVENTS.c.id)
            .where(
                EVENTS.c.status == DELIVERY_PENDING,
                EVENTS.c.next_attempt_at <= now,
                or_(EVENTS.c.lease_until.is_(None), EVENTS.c.lease_until < now),
            )
            .order_by(EVENTS.c.next_attempt_at, EVENTS.c.id)
            .limit(batch)
        )
        if conn.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        ids = list(conn.scalars(query))
        if not ids:
            conn.rollback()
            return []
        conn.execute(
            update(EVENTS)
            .where(EVENTS.c.id.in_(ids))
            .values(
                lease_until=now + timedelta(seconds=lease),
                attempts=EVENTS.c.attempts + 1,
                last_attempt_at=now,
            )
        )
        rows = conn.execute(
            select(EVENTS, PARTNERS.c.webhook_url, PARTNERS.c.client_id)
            .join(PARTNERS, PARTNERS.c.id == EVENTS.c.partner_id)
            .where(EVENTS.c.id.in_(ids))
            .order_by(EVENTS.c.id)
        ).all()
        conn.commit()
    return [
        Claimed(
            r.id,
            r.jti,
            r.attempts,
            r.event_type,
            r.subject,
            dict(r.payload),
            r.created_at,
            r.webhook_url or "",
            r.client_id,
        )
        for r in rows
    ]


class Sender:
    """POSTs tokens over one keep-alive connection per host and thread."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._local = threading.local()
        self._context = ssl.create_default_context()

    def _connection(self, scheme: str, netloc: str) -> http.client.HTTPConnection:
        pool: dict[tuple[str, str], http.client.HTTPConnection] = (
            getattr(self._local, "pool", None) or {}
        )
        self._local.pool = pool
        conn = pool.get((scheme, netloc))
        if conn is None:
            if scheme == "https":
                conn = http.client.HTTPSConnection(
                    netloc, timeout=self.timeout, context=self._context
                )
            else:
                conn = http.client.HTTPConnection(netloc, timeout=self.timeout)
            pool[(scheme, netloc)] = conn
        return conn

    def _drop(self, scheme: str, netloc: str) -> None:
        pool = getattr(self._local, "pool", {})
        conn = pool.pop((scheme, netloc), None)
        if conn is not None:
            conn.close()

    def post(self, url: str, token: str) -> tuple[int | None, str | None]:
        parts = urlsplit(url)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        body = token.encode("ascii")
        headers = {"Content-Type": CONTENT_TYPE, "Accept": "application/json"}
        for attempt in range(2):  # a kept-alive connection the server closed: once more
            conn = self._connection(parts.scheme, parts.netloc)
            try:
                conn.request("POST", path, body=body, headers=headers)
                response = conn.getresponse()
                text = response.read(2048)
                if response.getheader("Connection", "").lower() == "close":
                    self._drop(parts.scheme, parts.netloc)
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                self._drop(parts.scheme, parts.netloc)
                if attempt == 0:
                    continue
                return None, type(exc).__name__
            except (OSError, http.client.HTTPException) as exc:
                self._drop(parts.scheme, parts.netloc)
                return None, f"{type(exc).__name__}: {exc}"[:500]
            if 200 <= response.status < 300:
                return response.status, None
            return response.status, _error_text(response.status, text)
        return None, "no response"  # pragma: no cover - the loop always returns


def _error_text(status: int, body: bytes) -> str:
    """RFC 8935 2.3: a 400 carries ``{"err": ..., "description": ...}``; keep it short."""
    return f"HTTP {status}: {body[:300].decode('utf-8', 'replace')}"


def record(
    engine: Engine, results: Iterable[Result], backoff: Backoff, now: datetime | None = None
) -> Report:
    """Write the outcome of a batch in one transaction."""
    now = now or utcnow()
    report = Report()
    results = list(results)
    with engine.begin() as conn:
        delivered = [r.id for r in results if r.ok]
        if delivered:
            conn.execute(
                update(EVENTS)
                .where(EVENTS.c.id.in_(delivered), EVENTS.c.status == DELIVERY_PENDING)
                .values(
                    status=DELIVERY_DELIVERED,
                    delivered_at=now,
                    lease_until=None,
                    last_status=202,
                    last_error=None,
                )
            )
            for r in results:  # keep the real status code where it was not 202
                if r.ok and r.status != 202:
                    conn.execute(
                        update(EVENTS).where(EVENTS.c.id == r.id).values(last_status=r.status)
                    )
        report.delivered = len(delivered)
        for r in results:
            if r.ok:
                continue
            values: dict[str, Any] = {
                "lease_until": None,
                "last_status": r.status,
                "last_error": r.error,
            }
            if r.attempts >= backoff.max_attempts:
                values["status"] = DELIVERY_DEAD
                report.dead += 1
            else:
                values["next_attempt_at"] = now + timedelta(seconds=backoff.delay(r.attempts))
                report.retrying += 1
            conn.execute(
                update(EVENTS)
                .where(EVENTS.c.id == r.id, EVENTS.c.status == DELIVERY_PENDING)
                .values(**values)
            )
    report.results = results
    return report


@dataclass
class Worker:
    engine: Engine
    keys: KeyStore
    issuer: str
    batch: int = 100
    concurrency: int = 8
    timeout: float = 10.0
    lease: float | None = None
    backoff: Backoff = field(default_factory=Backoff)

    def __post_init__(self) -> None:
        self.sender = Sender(self.timeout)
        self._pool = ThreadPoolExecutor(max_workers=max(1, self.concurrency))

    @property
    def lease_seconds(self) -> float:
        return self.lease if self.lease is not None else max(60.0, 4 * self.timeout)

    def token(self, row: Claimed) -> str:
        claims = set_claims(
            issuer=self.issuer,
            audience=row.audience,
            jti=row.jti,
            issued_at=int(time.time()),
            subject=row.subject,
            event_type=row.event_type,
            payload=row.payload,
        )
        return sign_set(claims, self.keys.signing_key())

    def _send(self, row: Claimed) -> Result:
        if not row.webhook_url:
            return Result(row.id, row.attempts, None, "the partner has no webhook URL")
        try:
            token = self.token(row)
        except Exception as exc:  # a signing problem is this row's failure, not the batch's
            log.exception("could not sign event %s", row.id)
            return Result(row.id, row.attempts, None, f"signing failed: {type(exc).__name__}")
        status, error = self.sender.post(row.webhook_url, token)
        return Result(row.id, row.attempts, status, error)

    def run_batch(self) -> Report | None:
        rows = claim(self.engine, self.batch, self.lease_seconds)
        if not rows:
            return None
        results = list(self._pool.map(self._send, rows))
        report = record(self.engine, results, self.backoff)
        report.batches = 1
        log.info(
            "delivered %s, retrying %s, dead %s", report.delivered, report.retrying, report.dead
        )
        return report

    def run(
        self,
        once: bool = False,
        poll: float = 1.0,
        stop: threading.Event | None = None,
        on_report: Callable[[Report], None] | None = None,
    ) -> Report:
        """Deliver until nothing is due (``once``) or until ``stop`` is set."""
        total = Report()
        stop = stop or threading.Event()
        while not stop.is_set():
            report = self.run_batch()
            if report is None:
                if once:
                    break
                stop.wait(poll)
                continue
            total.delivered += report.delivered
            total.retrying += report.retrying
            total.dead += report.dead
            total.batches += 1
            if on_report is not None:
                on_report(report)
        return total

    def close(self) -> None:
        self._pool.shutdown(wait=True)
