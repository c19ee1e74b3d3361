"""The resident's own data: a copy of everything we hold (right of access), and erasure.

Erasure removes the personal data from the record (names, date of birth, contact details,
address, sign-in methods, proof of identity, consents) and keeps what the law requires
or what keeps other people safe, all pseudonymous: the resident's id, the ledger, audit
records, cards (so a card can never be used again) and taps. The ledger never held
personal data, so every hash, the chain and the signed tree heads still verify. See
docs/privacy-and-retention.md for what is kept, why and for how long.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from entitlements.ledger import store as ledger
from entitlements.ledger.events import EventKind, LedgerEvent
from entitlements.ledger.projection import EntitlementState
from idservice import audit
from idservice.cards.dao import dao_get_cards_for_resident
from idservice.db import db_session, transactional
from idservice.models.base import utcnow
from idservice.models.cards import Card, Tap
from idservice.models.evidence import IdentityEvidence
from idservice.models.mail import OutboundEmail
from idservice.models.notices import Notice, ServiceOffer
from idservice.models.partners import LifeEvent
from idservice.models.residents import (
    RESIDENT_ACTIVE,
    PasskeyCredential,
    Resident,
    ResidentSession,
)
from idservice.partners import outbox
from idservice.services.activity import activity_for
from idservice.services.add_service_dao import dao_held_states
from idservice.services.life_events import Notifier, cancel_cards, revoke_access
from idservice.services.life_events_dao import dao_life_events
from idservice.services.merge_plan import dao_consents, dao_evidence
from idservice.services.passkeys import dao_get_passkeys
from idservice.services.passwords import verify_password
from idservice.services.residents import dao_get_resident_by_id
from idservice.services.your_data_dao import (
    dao_all_notices,
    dao_all_offers,
    dao_all_states,
    dao_delete_personal_rows,
    dao_emails_to,
    dao_ledger_bodies,
    dao_sessions,
    dao_taps_of,
)

RESIDENT_ERASED = "erased"
#: What an erased record's date of birth becomes (the column cannot be empty): a date
#: no living person has, so no rule can ever find the record eligible for anything.
ERASED_DATE_OF_BIRTH = date(1900, 1, 1)
FORMAT_VERSION = 1


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def masked(card_number: str | None) -> str | None:
    return None if not card_number else f"ending {card_number[-4:]}"


def _ledger_events(resident_id: str) -> list[dict[str, Any]]:
    events = []
    for seq, body in dao_ledger_bodies(resident_id):
        _, event = LedgerEvent.from_body(body.encode())
        events.append(
            {
                "seq": seq,
                "kind": event.kind.value,
                "service": event.service,
                "reason": event.reason,
                "channel": event.channel.value,
                "occurred_at": _iso(event.occurred_at),
                "valid_from": _iso(event.valid_from),
                "valid_until": _iso(event.valid_until),
            }
        )
    return events


# --- the copy, one part at a time ------------------------------------------------------------


def _account(resident: Resident) -> dict[str, Any]:
    return {
        "reference": resident.id,
        "email": resident.email,
        "email_confirmed_at": _iso(resident.email_verified_at),
        "status": resident.status,
        "identity_checked": resident.identity_level,
        "created_at": _iso(resident.created_at),
        "updated_at": _iso(resident.updated_at),
        "closed_at": _iso(resident.closed_at),
    }


def _details(resident: Resident) -> dict[str, Any]:
    return {
        "given_name": resident.given_name,
        "family_name": resident.family_name,
        "date_of_birth": _iso(resident.date_of_birth),
        "phone": resident.phone,
        "address": resident.address_claim(),
        "uprn": resident.uprn,
    }


def _preferences(resident: Resident) -> dict[str, Any]:
    return {
        "language": resident.language,
        "alternative_formats": list(resident.alternative_formats or []),
        "text_relay": resident.text_relay,
    }


def _passkey(p: PasskeyCredential) -> dict[str, Any]:
    return {"name": p.nickname, "added": _iso(p.created_at), "last_used": _iso(p.last_used_at)}


def _session(s: ResidentSession) -> dict[str, Any]:
    return {
        "started": _iso(s.created_at),
        "last_seen": _iso(s.last_seen_at),
        "ended": _iso(s.ended_at),
        "how": list(s.amr),
    }


def _sign_in(resident: Resident) -> dict[str, Any]:
    return {
        "has_password": resident.password_hash is not None,
        "authenticator_app_since": _iso(resident.totp_enabled_at),
        "passkeys": [_passkey(p) for p in dao_get_passkeys(resident.id)],
        "sessions": [_session(s) for s in dao_sessions(resident.id)],
    }


def _evidence(e: IdentityEvidence) -> dict[str, Any]:
    return {
        "document": e.document_type,
        "reference": f"ending {e.reference_last4}",
        "checked_at": _iso(e.checked_at),
        "channel": e.channel,
    }


def _entitlement(s: EntitlementState) -> dict[str, Any]:
    return {
        "service": s.service,
        "status": s.status,
        "valid_from": _iso(s.valid_from),
        "valid_until": _iso(s.valid_until),
    }


def _card(c: Card) -> dict[str, Any]:
    return {
        "card": masked(c.card_number),
        "status": c.status,
        "reported": c.hotlist_reason,
        "expiry": _iso(c.expiry),
        "ordered_at": _iso(c.ordered_at),
        "issued_at": _iso(c.issued_at),
    }


def _tap(t: Tap) -> dict[str, Any]:
    return {
        "at": _iso(t.at),
        "card": masked(t.card_number),
        "where": t.mode,
        "decision": t.decision,
        "reason": t.reason,
    }


def _life_event(e: LifeEvent) -> dict[str, Any]:
    return {"kind": e.kind, "date": _iso(e.occurred_on), "told_by": e.source}


def _message(m: OutboundEmail) -> dict[str, Any]:
    return {"subject": m.subject, "written": _iso(m.created_at), "sent": _iso(m.sent_at)}


def _notice(n: Notice) -> dict[str, Any]:
    return {
        "kind": n.kind,
        "by": n.channel,
        "status": n.status,
        "written": _iso(n.created_at),
        "posted": _iso(n.posted_at),
        "about": n.context,
    }


def _offer(o: ServiceOffer) -> dict[str, Any]:
    return {
        "service": o.service,
        "status": o.status,
        "offered_on": _iso(o.offered_on),
        "not_offered_again_before": _iso(o.declined_until),
    }


def _export(resident: Resident) -> dict[str, Any]:
    rid = resident.id
    cards = list(reversed(dao_get_cards_for_resident(rid)))  # oldest first
    return {
        "format": "kentcard-your-data",
        "version": FORMAT_VERSION,
        "produced_at": _iso(utcnow()),
        "account": _account(resident),
        "details": _details(resident),
        "preferences": _preferences(resident),
        "sign_in": _sign_in(resident),
        # Facts are worked out from the record above (date of birth, address) and the
        # proof of identity below; no other facts are stored about a resident.
        "identity_evidence": [_evidence(e) for e in dao_evidence(rid)],
        "entitlements": [_entitlement(s) for s in dao_all_states(rid)],
        "entitlement_history": _ledger_events(rid),
        "cards": [_card(c) for c in cards],
        "taps": [_tap(t) for t in dao_taps_of([c.card_number for c in cards])],
        "consents": [
            {"service": name, "shared": c.scope.split(), "agreed_at": _iso(c.granted_at)}
            for c, name in dao_consents(rid)
        ],
        "life_events": [_life_event(e) for e in dao_life_events(rid)],
        "messages": [_message(m) for m in dao_emails_to(resident.email or "")],
        "notices": [_notice(n) for n in dao_all_notices(rid)],
        "offers": [_offer(o) for o in dao_all_offers(rid)],
        "activity": [item.__dict__ for item in activity_for(rid, limit=10_000)],
    }


@transactional
def download(resident_id: str, channel: str = "web") -> bytes:
    """Everything held about the resident, as JSON; the download itself is audited."""
    resident = dao_get_resident_by_id(resident_id)
    audit.record(
        "resident.data_downloaded",
        resident_id=resident.id,
        actor_type="resident",
        actor_id=resident.id,
        channel=channel,
        details={"format_version": FORMAT_VERSION},
    )
    db_session.flush()  # so the copy includes this download in its activity
    data = _export(resident)
    return json.dumps(data, indent=2, ensure_ascii=False).encode()


class ErasureRefused(ValueError):
    pass


@transactional
def erase(
    resident_id: str,
    *,
    password: str | None,
    actor_type: str = "resident",
    actor_id: str | None = None,
    channel: str = "web",
    reason: str | None = None,
) -> bool:
    """Erase the resident's personal data in one transaction; False if the password is
    wrong. Staff (``password=None``) act on a request made by post or in person."""
    resident = dao_get_resident_by_id(resident_id)
    if password is not None and not verify_password(resident.password_hash, password):
        return False
    if resident.status not in (RESIDENT_ACTIVE, "closed"):
        raise ErasureRefused("This record cannot be erased online: contact the council")
    notifier = Notifier(
        "staff" if actor_type == "staff" else "resident",
        actor_id or resident.id,
        channel=channel,
    )
    events = []
    ended = []
    today = date.today()
    for service in [state.service for state in dao_held_states(resident.id)]:
        events.append(
            LedgerEvent(
                kind=EventKind.REVOKE,
                resident=resident.id,
                service=service,
                actor=notifier.ledger_actor,
                channel=notifier.ledger_channel,
                reason="erasure requested",
                occurred_at=utcnow(),
            )
        )
        ended.append(outbox.EndedEntitlement(service, today, "erasure"))
    card_events = cancel_cards(resident.id, notifier, "erasure requested")
    ledger.append_in(db_session.connection(), events + card_events)
    outbox.notify(resident.id, None, {}, ended, None)
    revoke_access(resident.id)
    _remove_personal_data(resident)
    audit.record(
        "resident.erased",
        resident_id=resident.id,
        actor_type=actor_type,
        actor_id=actor_id or resident.id,
        channel=channel,
        reason=reason,
        details={"services_ended": [e.service for e in ended], "cards_cancelled": len(card_events)},
    )
    return True


def _remove_personal_data(resident: Resident) -> None:
    dao_delete_personal_rows(resident.id, resident.email)
    resident.email = None
    resident.email_verified_at = None
    resident.password_hash = None
    resident.given_name = ""
    resident.family_name = ""
    resident.date_of_birth = ERASED_DATE_OF_BIRTH
    resident.phone = None
    resident.address_line_1 = ""
    resident.address_line_2 = None
    resident.town = ""
    resident.postcode = ""
    resident.uprn = None
    resident.language = "en"
    resident.alternative_formats = []
    resident.text_relay = False
    resident.totp_secret = None
    resident.totp_enabled_at = None
    resident.totp_last_step = None
    resident.status = RESIDENT_ERASED
    resident.closed_at = resident.closed_at or utcnow()
