"""Who on the council's staff may do what: one table, read by every staff view.

Each view names the one :class:`Action` it performs and asks :func:`allowed`; nothing
else in the code decides access, so the table below is the whole policy and can be read
(and reviewed) by someone who does not program. Adding services: Gateway officers and
library staff see documents at the counter, so they record facts from them; the contact
centre adds services on what residents tell it (self-declared) but sees no documents;
only Gateway officers decide requests that wait for evidence. Possible duplicate records
(two records that may be one person) are checked by Gateway officers alone: it means
reading two people's records side by side, and judging identity, which is their job.
Merging two records of one person (and undoing it) moves services, cards and partners'
identifiers from one record to another, so only a Gateway team leader may do it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    GATEWAY_OFFICER = "gateway-officer"
    GATEWAY_TEAM_LEADER = "gateway-team-leader"
    LIBRARY_STAFF = "library-staff"
    CONTACT_CENTRE_OFFICER = "contact-centre-officer"
    TRANSPORT_OFFICER = "transport-officer"
    ADMINISTRATOR = "administrator"
    AUDITOR = "auditor"


class Action(StrEnum):
    SEARCH = "search"
    VIEW_RECORD = "view-record"
    CHANGE_DETAILS = "change-details"
    RECORD_EVIDENCE = "record-evidence"
    REGISTER_RESIDENT = "register-resident"
    READ_AUDIT = "read-audit"
    VIEW_CARDS = "view-cards"
    ISSUE_CARD = "issue-card"
    REPORT_CARD = "report-card"
    UNBLOCK_PIN = "unblock-pin"
    RECORD_LIFE_EVENT = "record-life-event"
    VIEW_PARTNER_EVENTS = "view-partner-events"
    ADD_SERVICE = "add-service"
    RECORD_FACT = "record-fact"
    DECIDE_REQUEST = "decide-request"
    RESOLVE_DUPLICATES = "resolve-duplicates"
    MERGE_RECORDS = "merge-records"
    VIEW_READERS = "view-readers"


@dataclass(frozen=True)
class RolePolicy:
    """What one role may do, and whether opening a record needs a stated reason."""

    title: str
    #: Used in sentences shown to residents: "A Gateway officer looked at your record".
    with_article: str
    actions: frozenset[Action]
    reason_required: bool


_A = Action
_GATEWAY = frozenset(
    {
        _A.SEARCH,
        _A.VIEW_RECORD,
        _A.CHANGE_DETAILS,
        _A.RECORD_EVIDENCE,
        _A.REGISTER_RESIDENT,
        _A.VIEW_CARDS,
        _A.ISSUE_CARD,
        _A.REPORT_CARD,
        _A.UNBLOCK_PIN,
        _A.RECORD_LIFE_EVENT,
        _A.ADD_SERVICE,
        _A.RECORD_FACT,
        _A.DECIDE_REQUEST,
        _A.RESOLVE_DUPLICATES,
    }
)
POLICIES: dict[Role, RolePolicy] = {
    Role.GATEWAY_OFFICER: RolePolicy(
        "Gateway officer", "A Gateway officer", _GATEWAY, reason_required=True
    ),
    # A Gateway officer who also resolves one person holding two records ("ask your team
    # leader"): merging moves a person's services, cards and partners' identifiers.
    Role.GATEWAY_TEAM_LEADER: RolePolicy(
        "Gateway team leader",
        "A Gateway team leader",
        _GATEWAY | {_A.MERGE_RECORDS},
        reason_required=True,
    ),
    Role.LIBRARY_STAFF: RolePolicy(
        "Library staff",
        "A member of library staff",
        frozenset(
            {
                _A.SEARCH,
                _A.VIEW_RECORD,
                _A.CHANGE_DETAILS,
                _A.RECORD_EVIDENCE,
                _A.REGISTER_RESIDENT,
                _A.VIEW_CARDS,
                _A.ISSUE_CARD,
                _A.REPORT_CARD,
                _A.UNBLOCK_PIN,
                _A.ADD_SERVICE,
                _A.RECORD_FACT,
            }
        ),
        reason_required=True,
    ),
    # On the phone nobody can see a document, so no identity evidence.
    Role.CONTACT_CENTRE_OFFICER: RolePolicy(
        "Contact centre officer",
        "A contact centre officer",
        frozenset(
            {
                _A.SEARCH,
                _A.VIEW_RECORD,
                _A.CHANGE_DETAILS,
                _A.REGISTER_RESIDENT,
                # Tell Us Once: families and registrars ring the contact centre.
                _A.RECORD_LIFE_EVENT,
                _A.ADD_SERVICE,
            }
        ),
        reason_required=True,
    ),
    # Looks a passholder up to answer a question at a travel desk (including why a card
    # was refused at a bus), and watches the readers on buses; changes nothing.
    Role.TRANSPORT_OFFICER: RolePolicy(
        "Transport officer",
        "A transport officer",
        frozenset({_A.SEARCH, _A.VIEW_RECORD, _A.VIEW_CARDS, _A.VIEW_READERS}),
        reason_required=False,
    ),
    # Runs the service and investigates problems (the reader fleet among them); does not
    # act for residents.
    Role.ADMINISTRATOR: RolePolicy(
        "Administrator",
        "An administrator",
        frozenset(
            {_A.SEARCH, _A.VIEW_RECORD, _A.READ_AUDIT, _A.VIEW_PARTNER_EVENTS, _A.VIEW_READERS}
        ),
        reason_required=True,
    ),
    # Reads the audit trail only: never a resident's details, never a change.
    Role.AUDITOR: RolePolicy(
        "Auditor",
        "An auditor",
        frozenset({_A.READ_AUDIT}),
        reason_required=False,
    ),
}

#: How each action is named in "You cannot …" messages.
ACTION_PHRASES = {
    Action.SEARCH: "search for residents",
    Action.VIEW_RECORD: "open a resident's record",
    Action.CHANGE_DETAILS: "change a resident's details",
    Action.RECORD_EVIDENCE: "record proof of identity",
    Action.REGISTER_RESIDENT: "register a new resident",
    Action.READ_AUDIT: "read the audit records",
    Action.VIEW_CARDS: "see a resident's Kent Cards and their taps",
    Action.ISSUE_CARD: "issue or replace a Kent Card",
    Action.REPORT_CARD: "report a Kent Card lost, stolen or damaged",
    Action.UNBLOCK_PIN: "unblock a Kent Card PIN",
    Action.RECORD_LIFE_EVENT: "record a death, a move out of Kent or a change of name or address",
    Action.VIEW_PARTNER_EVENTS: "see the delivery of events to partner services",
    Action.ADD_SERVICE: "add a service for a resident",
    Action.RECORD_FACT: "record a fact from a document or check",
    Action.DECIDE_REQUEST: "approve or refuse a request for a service",
    Action.RESOLVE_DUPLICATES: "check records that may belong to the same person",
    Action.MERGE_RECORDS: "merge two records of one person, or undo a merge",
    Action.VIEW_READERS: "see the card readers on buses and at library desks",
}


def policy(role: str) -> RolePolicy | None:
    try:
        return POLICIES[Role(role)]
    except ValueError:
        return None


def allowed(role: str, action: Action) -> bool:
    """False for an unknown role: a row with a role this code does not know gets nothing."""
    found = policy(role)
    return found is not None and action in found.actions


def reason_required(role: str) -> bool:
    found = policy(role)
    return found is None or found.reason_required


def role_title(role: str) -> str:
    found = policy(role)
    return found.title if found else "Council staff"


def role_with_article(role: str) -> str:
    found = policy(role)
    return found.with_article if found else "Council staff"
