"""The daily sweep: what time alone changes about residents' entitlements.

Re-evaluation (:mod:`idservice.services.reevaluation`) follows every change of fact; this
follows the calendar. Run once a day (``kentcard entitlements sweep``), for a day ``on``:

1. **expires what ended**: every held (active or suspended) entitlement whose last day
   (``valid_until``) is before ``on`` gets an ``expire`` ledger event; partners that serve
   it get an ``entitlement-ended`` Security Event Token and the resident a notice. A
   "confirm-details" service (library membership: no end date, details confirmed every
   few years) is not ended: it is paused (``suspend``) until the resident confirms;
2. **invites renewals**: a held entitlement whose invitation day (its end, or the day its
   details are due, less the catalogue's ``invite_days_before`` or
   ``KENTCARD_RENEWAL_INVITE_DAYS``) has come gets a ``renewal-due`` notice;
3. **starts what begins**: everyone who crossed an age rule since the last sweep (reached
   State Pension age, turned 18, 60 or 25) is decided again with the re-evaluation, as on
   ``on``: services they can now get are offered (with one notice), ones they no longer
   qualify for end. When a school year began since the last sweep (1 September), so is
   everyone with a request waiting for a service whose rules follow the school year: one
   the new year makes them too old for is closed with the reason.

Only rows that change are read: the projection's partial index finds held entitlements by
their end date; residents are found by a date-of-birth window per age rule
(:func:`entitlements.due.born_crossing`). Work is committed in batches of
``KENTCARD_SWEEP_BATCH_SIZE``, each batch with everything it causes (ledger events,
partner outbox rows, notices, offers, audit records) or none of it:

- **idempotent**: what is expired is no longer held, so it is not found again; a renewal
  invitation and an expiry notice carry a dedupe key (resident, service, end date), so a
  second sweep on the same day sends nothing twice; an offer already open is not made
  again;
- **crash-safe**: a process killed half way loses at most the batch it was writing, which
  rolls back; the day's ``sweep_runs`` row stays ``running`` and the next run looks back
  as far as the killed one did and finishes the work;
- **catches up**: the look-back starts the day after the last completed sweep, so a day
  (or a week) without a sweep is covered by the next one; the very first sweep looks at
  ``on`` only.

On PostgreSQL one sweep runs at a time (an advisory lock, released if the process dies);
a second one started meanwhile stops with :class:`SweepBusy`. ``dry_run`` does the same
work in each batch and rolls it back, so it counts exactly what a real run would do and
writes nothing.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, cast

from flask import current_app
from sqlalchemy import Engine, Table, func, or_, select, tuple_, update

from entitlements.catalogue import Service
from entitlements.dates import academic_year_start, long_date
from entitlements.due import born_crossing, record_services, thresholds
from entitlements.journey import EVIDENCE_ACCEPTED
from entitlements.ledger import store as ledger
from entitlements.ledger.events import Channel, EventKind, LedgerEvent
from entitlements.ledger.tables import EntitlementStateRow
from idservice import audit
from idservice.db import db_session
from idservice.models.base import utcnow
from idservice.models.residents import RESIDENT_ACTIVE, Resident
from idservice.models.service_requests import REQUEST_WAITING, ServiceRequest
from idservice.models.sweep import SWEEP_DONE, SWEEP_RUNNING, SweepRun
from idservice.partners import outbox
from idservice.services import add_service, notices, reevaluation
from idservice.services.notices import Outgoing

STATES = cast(Table, EntitlementStateRow.__table__)
EVENTS = ledger.EVENTS
#: How the re-evaluation's reason begins when a grace period cuts a grant short: the end
#: was announced then.
ENDING = reevaluation.GRACE_REASON_PREFIX
HELD = ("active", "suspended")
ACTOR = "system"
#: The reason partners are given for an entitlement that came to its end date.
EXPIRED = "expired"
#: ... and for a service paused because the resident has not confirmed their details.
PAUSED = "details-not-confirmed"
_LOCK_KEY = 0x4B43_5357  # "KCSW": the PostgreSQL advisory lock one sweep holds


class SweepBusy(RuntimeError):
    """Another sweep is running on this database."""


@dataclass
class SweepReport:
    """What a sweep did (or, on a dry run, would do): counts per action and service."""

    on: date
    looked_back_to: date
    dry_run: bool
    expired: Counter[str] = field(default_factory=Counter)
    paused: Counter[str] = field(default_factory=Counter)
    renewal_invitations: Counter[str] = field(default_factory=Counter)
    offered: Counter[str] = field(default_factory=Counter)
    ended: Counter[str] = field(default_factory=Counter)
    ending: Counter[str] = field(default_factory=Counter)
    residents_decided: int = 0

    ACTIONS = ("expired", "paused", "renewal_invitations", "offered", "ended", "ending")

    def as_dict(self) -> dict[str, Any]:
        actions = {name: dict(sorted(getattr(self, name).items())) for name in self.ACTIONS}
        return {
            "on": self.on.isoformat(),
            "looked_back_to": self.looked_back_to.isoformat(),
            "dry_run": self.dry_run,
            "actions": actions,
            "totals": {name: sum(getattr(self, name).values()) for name in self.ACTIONS},
            "residents_decided": self.residents_decided,
        }


# --- data access --------------------------------------------------------------------------


def dao_last_done_before(on: date) -> date | None:
    return db_session.scalar(
        select(func.max(SweepRun.swept_on)).where(
            SweepRun.status == SWEEP_DONE, SweepRun.swept_on < on
        )
    )


def dao_ended_before(on: date, codes: Sequence[str], statuses: Sequence[str]) -> list[Key]:
    """Held states of these services whose last day is before ``on`` (the partial index)."""
    if not codes:
        return []
    query = (
        select(STATES.c.resident, STATES.c.service, STATES.c.valid_until)
        .where(
            STATES.c.status.in_(statuses),
            STATES.c.valid_until < on,
            STATES.c.service.in_(codes),
        )
        .order_by(STATES.c.resident, STATES.c.service)
    )
    return [Key(r.resident, r.service, r.valid_until) for r in db_session.execute(query)]


def dao_ending_between(code: str, first: date, last: date) -> list[Key]:
    """Active states of ``code`` whose last day is from ``first`` to ``last``."""
    query = (
        select(STATES.c.resident, STATES.c.service, STATES.c.valid_until)
        .where(
            STATES.c.status == "active",
            STATES.c.valid_until >= first,
            STATES.c.valid_until <= last,
            STATES.c.service == code,
        )
        .order_by(STATES.c.resident)
    )
    return [Key(r.resident, r.service, r.valid_until) for r in db_session.execute(query)]


def dao_still(keys: Sequence[Key], statuses: Sequence[str]) -> dict[tuple[str, str], int]:
    """Which of ``keys`` are still in one of ``statuses`` with the same end, with the
    sequence number of their last event: read again in the batch's transaction, after the
    ledger's lock, so nothing changed under us."""
    pairs = [(k.resident, k.service) for k in keys]
    query = select(STATES.c.resident, STATES.c.service, STATES.c.last_seq, STATES.c.valid_until)
    query = query.where(
        tuple_(STATES.c.resident, STATES.c.service).in_(pairs), STATES.c.status.in_(statuses)
    )
    ends = {(k.resident, k.service): k.valid_until for k in keys}
    return {
        (r.resident, r.service): int(r.last_seq)
        for r in db_session.execute(query)
        if ends[(r.resident, r.service)] == r.valid_until
    }


def dao_told_ending(seqs: Sequence[int]) -> set[int]:
    """Which of these events cut a grant short to a grace period's end: the re-evaluation
    already told the resident and partners when it would end (its reason starts with
    :data:`ENDING`), so expiring it then tells nobody again."""
    query = select(EVENTS.c.seq, EVENTS.c.body).where(
        EVENTS.c.seq.in_(list(seqs)), EVENTS.c.kind == EventKind.RENEW.value
    )
    return {
        int(row.seq)
        for row in db_session.execute(query)
        if str(json.loads(row.body).get("reason", "")).startswith(ENDING)
    }


def dao_active_residents(ids: Sequence[str]) -> dict[str, Resident]:
    rows = db_session.scalars(
        select(Resident).where(Resident.id.in_(list(ids)), Resident.status == RESIDENT_ACTIVE)
    )
    return {r.id: r for r in rows}


def dao_residents_waiting_for(codes: Sequence[str]) -> list[str]:
    """Active residents with a request waiting for one of ``codes``, in id order."""
    if not codes:
        return []
    query = (
        select(ServiceRequest.resident_id)
        .join(Resident, Resident.id == ServiceRequest.resident_id)
        .where(
            ServiceRequest.status == REQUEST_WAITING,
            ServiceRequest.service.in_(list(codes)),
            Resident.status == RESIDENT_ACTIVE,
        )
        .distinct()
    )
    return sorted(db_session.scalars(query))


def dao_residents_born(windows: Sequence[tuple[date, date]]) -> list[str]:
    """Active residents born inside any of the windows (after the first date, on or before
    the second), in id order."""
    if not windows:
        return []
    born = or_(
        *[
            (Resident.date_of_birth > low) & (Resident.date_of_birth <= high)
            for low, high in windows
        ]
    )
    query = select(Resident.id).where(Resident.status == RESIDENT_ACTIVE, born)
    return list(db_session.scalars(query.order_by(Resident.id)))


@dataclass(frozen=True)
class Key:
    resident: str
    service: str
    valid_until: date


# --- running it ---------------------------------------------------------------------------


@contextmanager
def _one_at_a_time(engine: Engine) -> Iterator[None]:
    """PostgreSQL: hold an advisory lock on a connection of its own for the whole sweep
    (the server drops it with the connection if the process dies). SQLite serialises
    writers itself, and every step is idempotent, so it needs none."""
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect() as conn:
        locked = conn.exec_driver_sql(f"SELECT pg_try_advisory_lock({_LOCK_KEY})").scalar()
        conn.commit()
        if not locked:
            raise SweepBusy("another sweep is running on this database")
        try:
            yield
        finally:
            conn.exec_driver_sql(f"SELECT pg_advisory_unlock({_LOCK_KEY})")
            conn.commit()


def _end(dry_run: bool) -> None:
    """Close a batch: commit it, or on a dry run roll it back."""
    if dry_run:
        db_session.rollback()
    else:
        db_session.commit()


def _batches(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def sweep(
    on: date,
    *,
    dry_run: bool = False,
    batch_size: int | None = None,
    invite_days: int | None = None,
) -> SweepReport:
    """Sweep for ``on`` (see the module docstring); call inside the app context.

    ``batch_size`` and ``invite_days`` default to the settings
    (``KENTCARD_SWEEP_BATCH_SIZE``, ``KENTCARD_RENEWAL_INVITE_DAYS``).
    """
    settings = current_app.config["KENTCARD"]
    size = max(1, batch_size or settings.sweep_batch_size)
    default_days = settings.renewal_invite_days if invite_days is None else invite_days
    engine: Engine = current_app.extensions["kentcard_engine"]
    db_session.rollback()  # start from a clean session: each batch is its own transaction
    with _one_at_a_time(engine):
        last = dao_last_done_before(on)
        start = on if last is None else min(on, last + timedelta(days=1))
        report = SweepReport(on, start, dry_run)
        if not dry_run:
            _mark_running(on, start)
        services = list(add_service.catalogue())
        _expire(on, services, report, size, dry_run)
        _invite(on, start, last is None, services, report, size, default_days, dry_run)
        _decide_again(on, start, services, report, size, dry_run)
        if not dry_run:
            _mark_done(on, report)
    return report


def _mark_running(on: date, start: date) -> None:
    run = db_session.get(SweepRun, on)
    if run is None:
        db_session.add(SweepRun(swept_on=on, status=SWEEP_RUNNING, runs=1, looked_back_to=start))
    else:
        run.status, run.runs, run.looked_back_to = SWEEP_RUNNING, run.runs + 1, start
        run.started_at, run.finished_at = utcnow(), None
    db_session.commit()


def _mark_done(on: date, report: SweepReport) -> None:
    run = db_session.get(SweepRun, on)
    assert run is not None
    run.status, run.finished_at, run.report = SWEEP_DONE, utcnow(), report.as_dict()
    audit.record(
        "entitlements.swept",
        resident_id=None,
        actor_type="system",
        actor_id="kentcard entitlements sweep",
        channel="system",
        details=report.as_dict(),
    )
    db_session.commit()


def _lock_ledger() -> None:
    """Take the ledger's write lock first, as every writer does, then read states."""
    db_session.execute(
        update(ledger.HEAD).where(ledger.HEAD.c.id == 1).values(size=ledger.HEAD.c.size)
    )


# --- 1. expiry ----------------------------------------------------------------------------


def _expire(
    on: date, services: list[Service], report: SweepReport, size: int, dry_run: bool
) -> None:
    pausing = {s.code for s in services if s.renewal is not None and s.renewal.confirms_details}
    ending = [s.code for s in services if s.code not in pausing]
    for kind, codes, statuses in (
        (EventKind.EXPIRE, ending, HELD),
        (EventKind.SUSPEND, sorted(pausing), ("active",)),
    ):
        found = dao_ended_before(on, codes, statuses)
        db_session.rollback()
        for batch in _batches(found, size):
            _expire_batch(kind, batch, statuses, report)
            _end(dry_run)


def _expire_batch(
    kind: EventKind, batch: Sequence[Key], statuses: Sequence[str], report: SweepReport
) -> None:
    _lock_ledger()
    still = dao_still(batch, statuses)
    keys = [k for k in batch if (k.resident, k.service) in still]
    if not keys:
        return
    now = utcnow()
    expired = kind is EventKind.EXPIRE
    told = dao_told_ending(list(still.values())) if expired else set()
    tell = [k for k in keys if still[(k.resident, k.service)] not in told]
    ledger.append_in(
        db_session.connection(),
        [
            LedgerEvent(
                kind=kind,
                resident=k.resident,
                service=k.service,
                actor=ACTOR,
                channel=Channel.SYSTEM,
                reason=(
                    f"expired: its last day was {k.valid_until.isoformat()}"
                    if expired
                    else f"paused: details not confirmed by {k.valid_until.isoformat()}"
                ),
                occurred_at=now,
            )
            for k in keys
        ],
    )
    residents = dao_active_residents(sorted({k.resident for k in keys}))
    catalogue = add_service.catalogue()
    reason = EXPIRED if expired else PAUSED
    outbox.notify_ended(
        [
            (k.resident, outbox.EndedEntitlement(k.service, k.valid_until + timedelta(1), reason))
            for k in tell
        ]
    )
    telling = []
    for k in tell:
        resident = residents.get(k.resident)
        if resident is not None:
            telling.append(_ended_notice(resident, catalogue.get(k.service), k, expired))
    for k in keys:
        (report.expired if expired else report.paused)[k.service] += 1
    notices.send_many(telling)


def _ended_notice(resident: Resident, service: Service, key: Key, expired: bool) -> Outgoing:
    what = "expired" if expired else "paused"
    context: dict[str, Any] = {"service": service.name, "card": service.on_card}
    if expired:
        context.update(ended_on=long_date(key.valid_until), what_to_do=_again(service))
    else:
        context.update(due_on=long_date(key.valid_until))
    return Outgoing(
        resident,
        "entitlement-expired" if expired else "entitlement-paused",
        context,
        f"{what}:{resident.id}:{service.code}:{key.valid_until.isoformat()}",
    )


def _proof(service: Service) -> str:
    if service.renewal is None:
        return ""
    seen = dict.fromkeys(EVIDENCE_ACCEPTED[name] for name in service.renewal.recheck)
    return "; ".join(seen)


def _again(service: Service) -> str:
    """What to do about a service that came to its end date, in plain words."""
    how = (
        "To get it again, sign in to your Kent account and choose Your services, call the "
        "contact centre or visit a Gateway."
    )
    proof = _proof(service)
    return how + (f" We will need to see again: {proof}." if proof else "")


# --- 2. renewal invitations ---------------------------------------------------------------


def _invite(
    on: date,
    start: date,
    first: bool,
    services: list[Service],
    report: SweepReport,
    size: int,
    default_days: int,
    dry_run: bool,
) -> None:
    """Invite everyone whose invitation day fell from ``start`` to ``on``: their end is
    from ``start + days`` (or ``on``, whichever is later) to ``on + days``. The first
    sweep ever invites everyone already inside the period."""
    for service in services:
        renewal = service.renewal
        if renewal is None:
            continue
        days = default_days if renewal.invite_days_before is None else renewal.invite_days_before
        first_end = on if first else max(on, start + timedelta(days=days))
        found = dao_ending_between(service.code, first_end, on + timedelta(days=days))
        db_session.rollback()
        for batch in _batches(found, size):
            _invite_batch(service, batch, report)
            _end(dry_run)


def _invite_batch(service: Service, batch: Sequence[Key], report: SweepReport) -> None:
    still = dao_still(batch, ("active",))
    residents = dao_active_residents(sorted({k.resident for k in batch}))
    assert service.renewal is not None
    confirm = service.renewal.confirms_details
    outgoing, services = [], []
    for k in batch:
        resident = residents.get(k.resident)
        if resident is None or (k.resident, k.service) not in still:
            continue
        context = {
            "service": service.name,
            "ends_on": long_date(k.valid_until),
            "confirm_details": confirm,
            "proof": _proof(service),
        }
        key = f"renewal:{k.resident}:{k.service}:{k.valid_until.isoformat()}"
        outgoing.append(Outgoing(resident, "renewal-due", context, key))
        services.append(k.service)
    for code, sent in zip(services, notices.send_many(outgoing), strict=True):
        if sent is not None:
            report.renewal_invitations[code] += 1


# --- 3. what begins (and ends) with age ----------------------------------------------------


def crossing_windows(services: list[Service], start: date, on: date) -> list[tuple[date, date]]:
    """Date-of-birth windows (exclusive, inclusive) of everyone who crossed an age rule of
    a service the record decides, from ``start`` to ``on``."""
    windows = set()
    for service in record_services(add_service.catalogue()):
        if service.code not in {s.code for s in services}:
            continue
        for crosses in thresholds(service):
            low, high = born_crossing(crosses, start - timedelta(days=1), on)
            if high > low:
                windows.add((low, high))
    return sorted(windows)


#: Rules whose answer changes when a school year begins, not on a birthday.
SCHOOL_YEAR_TESTS = frozenset({"school-year-between", "age-on-31-august-between"})


def school_year_began(start: date, on: date) -> bool:
    """Whether a 1 September falls from ``start`` to ``on``."""
    return academic_year_start(on) > academic_year_start(start - timedelta(days=1))


def _decide_again(
    on: date,
    start: date,
    services: list[Service],
    report: SweepReport,
    size: int,
    dry_run: bool,
) -> None:
    residents = dao_residents_born(crossing_windows(services, start, on))
    if school_year_began(start, on):
        codes = [s.code for s in services if any(c.test in SCHOOL_YEAR_TESTS for c in s.conditions)]
        residents = sorted({*residents, *dao_residents_waiting_for(codes)})
    db_session.rollback()
    for batch in _batches(residents, size):
        for resident_id in batch:
            result = reevaluation.reevaluate(resident_id, on, reevaluation.SYSTEM)
            report.residents_decided += 1
            report.offered.update(result.offered)
            report.ended.update(e.service for e in result.ended)
            report.ending.update(e.service for e in result.ending)
        _end(dry_run)
