"""What staff do in the console, each step audited in the same transaction as its effect.

Residents' details are changed through :mod:`idservice.services.accounts` and records are
created through :mod:`idservice.services.residents`, exactly as residents' own pages do;
only the actor (``staff``), the channel and the reason differ. Audit details carry the
staff member's role and field or screen names, never a resident's personal values.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.exc import IntegrityError

from cardio.apdu import ApduError
from cardio.connection import CardConnection, TransportError
from cardio.errors import KentCardError, MalformedResponseError
from cardio.verify import TapRejected
from idservice import audit
from idservice.cards import dao as cards_dao
from idservice.cards import issuance
from idservice.db import db_session, transactional
from idservice.models.audit import AuditRecord
from idservice.models.cards import CARD_ACTIVE, Card, Tap
from idservice.models.evidence import IdentityEvidence
from idservice.models.merges import ResidentMerge
from idservice.models.residents import RESIDENT_MERGED, Resident
from idservice.models.staff import StaffMember
from idservice.services import accounts, duplicates, registration
from idservice.services.merge_steps import dao_merges_of
from idservice.services.name_matching import Person
from idservice.services.residents import (
    NotFound,
    create_resident,
    dao_get_resident_by_email,
    dao_get_resident_by_id,
)
from idservice.staff import dao
from idservice.staff.permissions import Action, allowed

#: Channels a member of staff can say they are serving the resident through.
STAFF_CHANNELS = {"face-to-face": "Face to face", "phone": "By phone"}
SEARCH_LIMIT = 50


def _audit(
    action: str,
    staff: StaffMember,
    *,
    resident_id: str | None,
    channel: str,
    reason: str | None = None,
    **details: Any,
) -> AuditRecord:
    return audit.record(
        action,
        resident_id=resident_id,
        actor_type="staff",
        actor_id=staff.id,
        channel=channel,
        details={"staff_role": staff.role, **details},
        reason=reason,
    )


# --- finding a resident -------------------------------------------------------------------


@dataclass(frozen=True)
class ResidentQuery:
    """What staff searched by. Empty fields are ignored.

    To search by another key, add a field here and a criterion to :data:`CRITERIA`; the
    form and the results page need nothing else.
    """

    family_name: str | None = None
    given_name: str | None = None
    date_of_birth: date | None = None
    email: str | None = None
    postcode: str | None = None
    #: Any card the resident has had (active, reported, replaced, unfinished).
    card_number: str | None = None
    #: The resident reference on the record: the only search that finds a merged record.
    reference: str | None = None

    def used(self) -> list[str]:
        return [name for name, value in vars(self).items() if value]


Criterion = Callable[[ResidentQuery], ColumnElement[bool] | None]

CRITERIA: list[Criterion] = [
    lambda q: func.lower(Resident.family_name) == q.family_name.lower() if q.family_name else None,
    lambda q: (
        func.lower(Resident.given_name).startswith(q.given_name.lower(), autoescape=True)
        if q.given_name
        else None
    ),
    lambda q: Resident.date_of_birth == q.date_of_birth if q.date_of_birth else None,
    lambda q: Resident.email == q.email.lower() if q.email else None,
    lambda q: Resident.postcode == q.postcode if q.postcode else None,
    lambda q: (
        Resident.id.in_(select(Card.resident_id).where(Card.card_number == q.card_number))
        if q.card_number
        else None
    ),
    lambda q: Resident.id == q.reference if q.reference else None,
    # A merged record is found by its reference only (then it says where it went).
    lambda q: Resident.status != RESIDENT_MERGED if not q.reference else None,
]


@dataclass(frozen=True)
class SearchResult:
    """Just enough to pick the right person; opening the record shows (and audits) more."""

    resident_id: str
    name: str
    year_of_birth: int
    postcode_district: str
    closed: bool
    #: The record kept, when this one was merged into it.
    merged_into: str | None = None


@dataclass
class SearchOutcome:
    results: list[SearchResult] = field(default_factory=list)
    more: bool = False


@transactional
def search(staff: StaffMember, query: ResidentQuery) -> SearchOutcome:
    """Residents matching every criterion given.

    The search itself is audited without a resident (which fields were used, how many
    matched), so fishing can be spotted; a resident's own trail starts when a record is
    opened.
    """
    conditions = [c for c in (criterion(query) for criterion in CRITERIA) if c is not None]
    rows = dao.dao_search_residents(select(Resident).where(*conditions), SEARCH_LIMIT + 1)
    _audit(
        "staff.searched",
        staff,
        resident_id=None,
        channel="web",
        fields=query.used(),
        matches=min(len(rows), SEARCH_LIMIT),
    )
    return SearchOutcome(
        results=[
            SearchResult(
                resident_id=r.id,
                name=r.full_name,
                year_of_birth=r.date_of_birth.year,
                postcode_district=r.postcode.split(" ")[0],
                closed=not r.is_active,
                merged_into=r.merged_into_id,
            )
            for r in rows[:SEARCH_LIMIT]
        ],
        more=len(rows) > SEARCH_LIMIT,
    )


# --- looking at a record ------------------------------------------------------------------


@dataclass(frozen=True)
class Access:
    """Why and how a member of staff has a resident's record open."""

    resident_id: str
    channel: str
    reason: str | None


@transactional
def open_record(staff: StaffMember, access: Access) -> Resident:
    """Check the resident exists and audit the opening with its reason and channel."""
    resident = dao_get_resident_by_id(access.resident_id)
    _audit(
        "resident.viewed",
        staff,
        resident_id=resident.id,
        channel=access.channel,
        reason=access.reason,
        screen="open record",
    )
    return resident


#: How many taps the record shows, newest first, across all the resident's cards.
TAPS_SHOWN = 20


@dataclass(frozen=True)
class RecordView:
    resident: Resident
    evidence: list[IdentityEvidence]
    #: Only filled in for roles that may see cards (``Action.VIEW_CARDS``).
    cards: list[Card] = field(default_factory=list)
    taps: list[Tap] = field(default_factory=list)
    #: Merges into or of this record, newest first (idservice/services/merges.py).
    merges: list[ResidentMerge] = field(default_factory=list)

    @property
    def active_card(self) -> Card | None:
        return next((c for c in self.cards if c.status == CARD_ACTIVE), None)


@transactional
def view_record(
    staff: StaffMember,
    access: Access,
    screen: str,
    *,
    with_cards: bool = False,
    with_facts: bool = False,
) -> RecordView:
    """Every screen that shows a resident's details writes one audit record when shown.

    ``with_cards`` adds the resident's Kent Cards and their recent taps to what is shown,
    ``with_facts`` says the screen shows the facts held and the requests waiting, and the
    same audit record lists those sections.
    """
    resident = dao_get_resident_by_id(access.resident_id)
    cards: list[Card] = []
    taps: list[Tap] = []
    if with_cards:
        cards = cards_dao.dao_get_cards_for_resident(resident.id)
        for card in cards:
            taps.extend(cards_dao.dao_recent_taps(card.card_number, TAPS_SHOWN))
        taps = sorted(taps, key=lambda t: (t.at, t.id), reverse=True)[:TAPS_SHOWN]
    sections = [name for name, shown in (("kent card", with_cards), ("facts", with_facts)) if shown]
    _audit(
        "resident.viewed",
        staff,
        resident_id=resident.id,
        channel=access.channel,
        reason=access.reason,
        screen=screen,
        **({"sections": sections} if sections else {}),
    )
    return RecordView(
        resident,
        dao.dao_get_evidence_for_resident(resident.id),
        cards,
        taps,
        dao_merges_of(resident.id),
    )


@transactional
def resident_for(access: Access) -> Resident:
    """The record a form is acting on, when the form is sent (showing it was audited)."""
    return dao_get_resident_by_id(access.resident_id)


def allowed_to(staff: StaffMember, action: Action) -> bool:
    return allowed(staff.role, action)


def resident_exists(resident_id: str) -> bool:
    return dao.dao_resident_exists(resident_id)


def require_resident(resident_id: str) -> None:
    """:class:`NotFound` (a 404) unless there is a record with this id."""
    if not resident_exists(resident_id):
        raise NotFound("resident")


@transactional
def record_refusal(staff: StaffMember, action: Action, resident_id: str | None) -> None:
    """A refused attempt is audited too (and shown to the resident it was about)."""
    _audit(
        "staff.access_refused",
        staff,
        resident_id=resident_id if resident_id and resident_exists(resident_id) else None,
        channel="web",
        permission=action.value,
    )


# --- acting for a resident ----------------------------------------------------------------


def change_details(staff: StaffMember, access: Access, changes: dict[str, Any]) -> list[str]:
    """Assisted digital: the resident's own service, recorded as done by staff."""
    return accounts.update_details(
        access.resident_id,
        changes,
        actor_type="staff",
        actor_id=staff.id,
        channel=access.channel,
        reason=access.reason,
        extra_details={"staff_role": staff.role, "assisted": True},
    )


# --- Kent Cards at the counter ------------------------------------------------------------


class CardProblem(Exception):
    """The counter could not finish; the message says why, in words staff can act on."""


def _counter_actor(staff: StaffMember, access: Access) -> issuance.CounterActor:
    return issuance.CounterActor(staff.id, staff.role, access.channel, access.reason)


@transactional
def resident_card(access: Access, card_id: str) -> Card | None:
    """The card, if it is one of this resident's (a card id from another record is not)."""
    card = db_session.get(Card, card_id)
    return card if card is not None and card.resident_id == access.resident_id else None


def card_on_record(access: Access, card_id: str) -> Card:
    """:func:`resident_card`, or :class:`NotFound` (a 404)."""
    card = resident_card(access, card_id)
    if card is None:
        raise NotFound("card")
    return card


def report_card(staff: StaffMember, access: Access, card_id: str, why: str) -> Card:
    """Hotlist at once through the issuance service; audited with the record's reason."""
    if resident_card(access, card_id) is None:
        raise CardProblem("This card is not on this resident's record")
    try:
        return issuance.report_card(_counter_actor(staff, access), card_id, why)
    except issuance.CardRefused as exc:
        raise CardProblem(str(exc)) from None


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def card_error_message(exc: Exception) -> str:
    """What the counter tells staff when the card in the reader could not be issued."""
    if isinstance(exc, KentCardError):  # a status word the card protocol knows
        return _sentence(exc.message)
    if isinstance(exc, TransportError):
        return (
            "The card was taken out of the reader, or there is no card in it. Put the "
            "blank card in the counter reader and try again"
        )
    if isinstance(exc, TapRejected):
        return (
            f"The card did not prove what was written to it ({exc.reason.words}). Do not "
            "give it to the resident: try another blank card"
        )
    if isinstance(exc, MalformedResponseError):
        return "The card's answer could not be read. Try another blank card"
    if isinstance(exc, ApduError):
        return f"The card refused the command (status {exc.sw:04X}). Try another blank card"
    return str(exc)


def issue_card(
    staff: StaffMember,
    access: Access,
    connect: Callable[[], CardConnection],
    pin: str,
    replacing: str | None = None,
) -> tuple[Card, Card | None]:
    """Issue (or replace) a card on the blank card in the counter reader.

    ``replacing`` is why the active card is being replaced (lost, stolen or damaged): that
    card is hotlisted first, as :func:`issuance.report_card` does, so the new card is
    linked to it when it becomes active. The reader is connected before anything is
    written. Any failure raises :class:`CardProblem` with the card left unusable and no
    card activated; the order stays ``ordered`` for this member of staff to run again
    (see :mod:`idservice.cards.issuance`). Returns the new card and the card it replaced.
    """
    actor = _counter_actor(staff, access)
    try:
        connection = connect()
    except (TransportError, ApduError) as exc:
        raise CardProblem(card_error_message(exc)) from None
    replaced: Card | None = None
    try:
        active = _active_card(access.resident_id)
        if active is not None:
            if replacing is None:
                raise CardProblem(str(issuance.AlreadyHasCard()))
            replaced = issuance.report_card(actor, active.id, replacing)
        order = issuance.order_card(actor, access.resident_id)
        card = issuance.personalise_card(actor, order.id, connection, pin)
    except (issuance.CardRefused, *CARD_ERRORS) as exc:
        message = str(exc) if isinstance(exc, issuance.CardRefused) else card_error_message(exc)
        if replaced is not None:
            message += (
                f". The old card ending {replaced.card_number[-4:]} has been reported "
                f"{replacing} and no longer works"
            )
        raise CardProblem(message) from None
    finally:
        with contextlib.suppress(TransportError):
            connection.disconnect()
    return card, replaced


CARD_ERRORS = (KentCardError, TransportError, TapRejected, MalformedResponseError, ApduError)


def unblock_message(exc: Exception) -> str:
    """What the counter says when a PIN could not be unblocked."""
    if isinstance(exc, issuance.CardRefused):
        return str(exc)
    if isinstance(exc, TransportError):
        return (
            "The card was taken out of the reader, or there is no card in it. Put the "
            "resident's card in the counter reader and try again"
        )
    if isinstance(exc, TapRejected):
        return (
            f"The card in the reader is not a genuine Kent Card of this resident "
            f"({exc.reason.words}). Put the resident's card in the reader"
        )
    if isinstance(exc, KentCardError):
        return f"The card answered {exc}. Try again, or order a replacement card"
    if isinstance(exc, ApduError):
        return f"The card refused the command (status {exc.sw:04X}). Try again"
    return card_error_message(exc)


def unblock_pin(
    staff: StaffMember,
    access: Access,
    card_id: str,
    connect: Callable[[], CardConnection],
    pin: str,
) -> Card:
    """Unblock the PIN of this resident's card at the counter reader with a new PIN."""
    if resident_card(access, card_id) is None:
        raise CardProblem("This card is not on this resident's record")
    try:
        connection = connect()
    except (TransportError, ApduError) as exc:
        raise CardProblem(unblock_message(exc)) from None
    try:
        return issuance.unblock_pin(
            _counter_actor(staff, access), card_id, connection, pin, date.today()
        )
    except (issuance.CardRefused, *CARD_ERRORS) as exc:
        raise CardProblem(unblock_message(exc)) from None
    finally:
        with contextlib.suppress(TransportError):
            connection.disconnect()


@transactional
def _active_card(resident_id: str) -> Card | None:
    return cards_dao.dao_get_active_card(resident_id)


class EmailInUse(ValueError):
    """Another record has this email address; staff should find that record instead."""


@dataclass(frozen=True)
class LikelyMatches:
    """Existing records that may be the person being registered: nothing was created."""

    person: Person
    found: list[duplicates.Found]


def _operator(staff: StaffMember, channel: str) -> duplicates.Operator:
    return duplicates.Operator("staff", staff.id, channel, staff.id, staff.role)


def _likely_matches(staff: StaffMember, channel: str, details: dict[str, Any]) -> LikelyMatches:
    person = duplicates.person_from(details)
    found = duplicates.find(person, details["date_of_birth"])
    duplicates.audit_shown(found, _operator(staff, channel), "register")
    return LikelyMatches(person, found)


@transactional
def likely_matches(staff: StaffMember, channel: str, details: dict[str, Any]) -> LikelyMatches:
    """The records shown beside the registration form; showing each is audited."""
    return _likely_matches(staff, channel, details)


@transactional
def register_resident(
    staff: StaffMember,
    channel: str,
    reason: str | None,
    details: dict[str, Any],
    *,
    not_a_duplicate: str | None = None,
) -> Resident | LikelyMatches:
    """A record for someone registering with staff help; the email address is optional.

    When an existing record may be the same person, nothing is created and the likely
    matches are returned, unless ``not_a_duplicate`` says why this is a different person:
    then the record is created and each pair kept as checked, with that reason.

    With an address, the resident is sent the same confirmation link as online
    registration, so they can later set a password and sign in themselves.
    """
    email = details.get("email")
    if email and dao_get_resident_by_email(email) is not None:
        raise EmailInUse(email)
    matches = _likely_matches(staff, channel, details)
    if matches.found and not_a_duplicate is None:
        return matches
    try:
        with db_session.begin_nested():
            resident = create_resident(
                **details,
                actor_type="staff",
                actor_id=staff.id,
                channel=channel,
                password=None,
                reason=reason,
                audit_details={"staff_role": staff.role, "assisted": True},
            )
    except IntegrityError:  # the address was taken a moment ago
        raise EmailInUse(email) from None
    if matches.found and not_a_duplicate is not None:
        duplicates.record_not_same(
            resident.id, matches.found, _operator(staff, channel), not_a_duplicate
        )
    _audit(
        "resident.viewed",
        staff,
        resident_id=resident.id,
        channel=channel,
        reason=reason,
        screen="register",
    )
    registration.send_confirmation(resident)
    return resident


# --- the audit trail ----------------------------------------------------------------------


@transactional
def read_audit(staff: StaffMember, resident_id: str | None) -> list[AuditRecord]:
    """Auditors read the trail; reading it is itself on the resident's trail."""
    records = dao.dao_get_audit_records(resident_id)
    _audit("audit.viewed", staff, resident_id=resident_id, channel="web", screen="audit records")
    return records


def resident_active_card(access: Access) -> Card | None:
    return _active_card(access.resident_id)
