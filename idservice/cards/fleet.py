"""The reader fleet: registering readers, what each reports at a contact, and its state.

A reader is an OAuth client (client credentials, ``taps:write``) with a ``readers`` row:
where it is, who runs it and its mode (:func:`register_reader`, ``kentcard readers
register``). Every contact (``POST /api/v1/taps/batch``, ``POST /api/v1/readers/status``)
carries a :class:`ReaderReport` (its snapshot version, queued taps and clock), recorded
by :func:`record_contact` with the clock drift worked out here. Staff see the fleet on
``/staff/readers`` and with ``kentcard readers list --json`` (:func:`fleet`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from idservice import audit
from idservice.api_errors import ApiError
from idservice.cards import fleet_dao
from idservice.cards.taps import TAPS_SCOPE
from idservice.db import transactional
from idservice.models.readers import READER_MODES, Reader
from idservice.oauth import clients, scopes
from idservice.oauth.dao import dao_get_client

#: Longest location, operator, route and vehicle kept (the columns' sizes).
FIELD_LENGTHS = {"location": 200, "operator": 200, "route": 64, "vehicle": 64}
#: A reader whose clock is further than this from the service's is shown as wrong (ms).
DRIFT_WARNING_MS = 60_000


class NotAReader(ApiError):
    """403: the client may write taps but is not registered in the reader fleet."""

    status, code = 403, "not_a_reader"
    message = (
        "This client is not a registered reader: register it with "
        "`kentcard readers register --client-id ...`"
    )


@dataclass(frozen=True)
class ReaderReport:
    """What a reader says of itself at each contact."""

    snapshot_version: str | None
    queued: int
    clock: datetime

    def drift_ms(self, now: datetime) -> int:
        """The reader's clock less the service's (ms): positive when the reader is ahead.
        The request's time in transit counts as drift: the figure is good to about that."""
        return round((self.clock - now).total_seconds() * 1000)


@dataclass(frozen=True)
class ReaderState:
    """One reader as staff see it."""

    client_id: str
    name: str
    active: bool
    mode: str
    location: str
    operator: str | None
    route: str | None
    vehicle: str | None
    registered_at: datetime
    last_contact_at: datetime | None
    snapshot_version: str | None
    queued_taps: int | None
    clock_drift_ms: int | None
    taps_recorded: int
    taps_flagged: int
    taps_refused: int

    @property
    def clock_wrong(self) -> bool:
        return self.clock_drift_ms is not None and abs(self.clock_drift_ms) > DRIFT_WARNING_MS

    def as_dict(self) -> dict[str, Any]:
        return {
            "client_id": self.client_id,
            "name": self.name,
            "active": self.active,
            "mode": self.mode,
            "location": self.location,
            "operator": self.operator,
            "route": self.route,
            "vehicle": self.vehicle,
            "registered_at": self.registered_at.isoformat(),
            "last_contact_at": self.last_contact_at.isoformat() if self.last_contact_at else None,
            "snapshot_version": self.snapshot_version,
            "queued_taps": self.queued_taps,
            "clock_drift_ms": self.clock_drift_ms,
            "taps_recorded": self.taps_recorded,
            "taps_flagged": self.taps_flagged,
            "taps_refused": self.taps_refused,
        }


def _state(reader: Reader, name: str, active: bool) -> ReaderState:
    return ReaderState(
        client_id=reader.client_id,
        name=name,
        active=active,
        mode=reader.mode,
        location=reader.location,
        operator=reader.operator,
        route=reader.route,
        vehicle=reader.vehicle,
        registered_at=reader.registered_at,
        last_contact_at=reader.last_contact_at,
        snapshot_version=reader.snapshot_version,
        queued_taps=reader.queued_taps,
        clock_drift_ms=reader.clock_drift_ms,
        taps_recorded=reader.taps_recorded,
        taps_flagged=reader.taps_flagged,
        taps_refused=reader.taps_refused,
    )


def fleet() -> list[ReaderState]:
    """Every registered reader: never heard from first, then the longest silent."""
    return [_state(*row) for row in fleet_dao.dao_list_readers()]


def _details(**given: str | None) -> dict[str, str | None]:
    """The reader's place and operator, trimmed, each within its column."""
    details: dict[str, str | None] = {}
    for name, value in given.items():
        text = (value or "").strip()
        if len(text) > FIELD_LENGTHS[name]:
            raise clients.RegistrationError(
                f"{name} must be at most {FIELD_LENGTHS[name]} characters."
            )
        details[name] = text or None
    if not details["location"]:
        raise clients.RegistrationError("Give the reader's --location.")
    return details


@dataclass(frozen=True)
class RegisteredReader:
    state: ReaderState
    client_secret: str | None

    def as_dict(self) -> dict[str, Any]:
        data = self.state.as_dict()
        if self.client_secret is not None:
            data["client_secret"] = self.client_secret
        return data


@transactional
def register_reader(
    *,
    mode: str,
    location: str,
    operator: str | None = None,
    route: str | None = None,
    vehicle: str | None = None,
    name: str | None = None,
    client_id: str | None = None,
) -> RegisteredReader:
    """Add a reader to the fleet: a new client (client credentials, ``taps:write``;
    ``name`` needed, the secret returned once), or the existing ``client_id`` (which must
    hold ``taps:write``). Raises :class:`idservice.oauth.clients.RegistrationError`."""
    if mode not in READER_MODES:
        raise clients.RegistrationError(f"Mode must be one of {', '.join(READER_MODES)}.")
    details = _details(location=location, operator=operator, route=route, vehicle=vehicle)
    secret = None
    if client_id is not None:
        client = dao_get_client(client_id)
        if client is None:
            raise clients.RegistrationError(f"No client {client_id}.")
        if TAPS_SCOPE not in scopes.parse(client.scope):
            raise clients.RegistrationError(f"Client {client_id} lacks the {TAPS_SCOPE} scope.")
        if fleet_dao.dao_get_reader(client_id) is not None:
            raise clients.RegistrationError(f"Client {client_id} is already a reader.")
    else:
        if not name:
            raise clients.RegistrationError("Give the reader's --name (or --client-id).")
        registered = clients.register_client(
            name=name, grant_types=["client_credentials"], scope=TAPS_SCOPE
        )
        client, secret = registered.client, registered.client_secret
    reader = fleet_dao.dao_add_reader(Reader(client_id=client.client_id, mode=mode, **details))
    audit.record(
        "readers.registered",
        resident_id=None,
        actor_type="system",
        actor_id="cli",
        channel="system",
        details={"client_id": client.client_id, "mode": mode},
    )
    return RegisteredReader(_state(reader, client.name, client.active), secret)


def record_contact(
    client_id: str,
    report: ReaderReport,
    now: datetime,
    *,
    recorded: int = 0,
    flagged: int = 0,
    refused: int = 0,
) -> int:
    """Record what the reader reported (in the caller's transaction); returns the clock
    drift in ms. :class:`NotAReader` for a client that is not in the fleet."""
    drift = report.drift_ms(now)
    found = fleet_dao.dao_record_contact(
        client_id,
        at=now,
        snapshot_version=report.snapshot_version,
        queued=report.queued,
        clock_drift_ms=drift,
        recorded=recorded,
        flagged=flagged,
        refused=refused,
    )
    if not found:
        raise NotAReader
    return drift


def is_reader(client_id: str) -> bool:
    return fleet_dao.dao_get_reader(client_id) is not None
