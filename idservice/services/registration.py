"""Creating an account, confirming an email address and resetting a password.

None of these tells a stranger whether an email address has an account: registering an
address already in use emails its owner instead, and a reset request for an unknown
address does nothing, while the pages shown are the same either way. The work done is the
same too, so the time taken tells nothing either: registering an address in use still
hashes the password, and a reset request for an unknown address still makes and renders
a link. A stranger can cause only a few emails an hour to one address
(``ratelimit.allow_mail_to``); past that nothing is sent and the page is the same.

Nor does registering tell whether someone already has a record: every registration looks
for one (:mod:`idservice.services.duplicates`), whatever the email address, and a record
that may be the same person is kept for staff to check, not mentioned on the page.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

from flask import render_template
from sqlalchemy.exc import IntegrityError

from idservice import audit
from idservice.auth.sessions import end_all_sessions
from idservice.db import db_session, transactional
from idservice.models.base import utcnow
from idservice.models.residents import Resident
from idservice.services import duplicates, mail, ratelimit, throttle, tokens
from idservice.services.passwords import hash_password
from idservice.services.residents import (
    create_resident,
    dao_get_resident_by_email,
    dao_get_resident_by_id,
)
from idservice.services.signin import resident_account

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Registration:
    given_name: str
    family_name: str
    email: str
    date_of_birth: date
    address_line_1: str
    address_line_2: str | None
    town: str
    postcode: str
    phone: str | None
    password: str


def _confirmation_token(resident: Resident) -> str:
    return tokens.make(
        tokens.CONFIRM_EMAIL, {"r": resident.id, "f": tokens.fingerprint(resident.email)}
    )


def send_confirmation(resident: Resident) -> None:
    """Email a confirmation link; the caller commits."""
    if not resident.email:
        return
    link = mail.external_url("accounts.confirm_email", token=_confirmation_token(resident))
    mail.queue(resident.email, "confirm_email", link=link)


@transactional
def register(data: Registration) -> None:
    """Create the account and send a confirmation link, or tell an existing owner.

    Returns nothing on purpose: the page shown must not depend on the outcome, nor on
    whether another record looks like the same person (staff are told, not the page).
    """
    may_mail = ratelimit.allow_mail_to(data.email)
    # Looked for on every path, so the time taken says nothing about a match either.
    found = duplicates.find(duplicates.person_from(vars(data)), data.date_of_birth)
    if dao_get_resident_by_email(data.email) is not None:
        hash_password(data.password)  # the work creating an account does, then thrown away
        if may_mail:
            _tell_owner(data.email)
        return
    try:
        with db_session.begin_nested():
            resident = create_resident(
                given_name=data.given_name,
                family_name=data.family_name,
                date_of_birth=data.date_of_birth,
                address_line_1=data.address_line_1,
                address_line_2=data.address_line_2,
                town=data.town,
                postcode=data.postcode,
                email=data.email,
                phone=data.phone,
                password=data.password,
                channel="web",
            )
    except IntegrityError:  # registered by someone else a moment ago
        if may_mail:
            _tell_owner(data.email)
        return
    duplicates.record_open(resident.id, found, "web")
    log.info("resident %s registered", resident.id)
    if may_mail:
        send_confirmation(resident)


def _tell_owner(email: str) -> None:
    mail.queue(
        email,
        "already_registered",
        sign_in=mail.external_url("accounts.sign_in"),
        reset=mail.external_url("accounts.forgot_password"),
    )


@transactional
def resend_confirmation(resident_id: str) -> None:
    resident = dao_get_resident_by_id(resident_id)
    if resident.email_verified_at is None:
        send_confirmation(resident)


@dataclass(frozen=True)
class Confirmation:
    ok: bool
    already: bool = False


@transactional
def confirm_email(token: str) -> Confirmation:
    payload = tokens.load(tokens.CONFIRM_EMAIL, token)
    if payload is None:
        return Confirmation(ok=False)
    resident = db_session.get(Resident, str(payload.get("r")))
    if resident is None or not resident.is_active:
        return Confirmation(ok=False)
    if payload.get("f") != tokens.fingerprint(resident.email):
        return Confirmation(ok=False)
    if resident.email_verified_at is not None:
        return Confirmation(ok=True, already=True)
    resident.email_verified_at = utcnow()
    audit.record(
        "email.confirmed",
        resident_id=resident.id,
        actor_type="resident",
        actor_id=resident.id,
        channel="web",
        details={"fields": ["email_verified_at"]},
    )
    return Confirmation(ok=True)


@transactional
def request_password_reset(email: str) -> None:
    """Email a reset link if the address belongs to an open account; otherwise nothing.

    The link and the message are made, and a request recorded, either way, so both take
    the same time; only the outbox row is left out for an address with no account.
    """
    may_mail = ratelimit.allow_mail_to(email)
    resident = dao_get_resident_by_email(email)
    found = resident is not None and resident.is_active and resident.email is not None
    token = tokens.make(
        tokens.RESET_PASSWORD,
        {
            "r": resident.id if resident else "",
            "f": tokens.fingerprint(resident.password_hash if resident else None),
        },
    )
    link = mail.external_url("accounts.reset_password", token=token)
    if resident is not None and resident.email is not None and found and may_mail:
        mail.queue(resident.email, "reset_password", link=link)
    else:
        render_template("accounts/email/reset_password.txt", link=link)  # as mail.queue does
    audit.record(
        "password.reset_requested",
        resident_id=resident.id if found and resident is not None else None,
        actor_type="resident",
        actor_id=None,
        channel="web",
        details={"sent": found and may_mail},
    )


def resident_for_reset(token: str) -> Resident | None:
    """The resident a reset link is for, while it is unused and in date."""
    payload = tokens.load(tokens.RESET_PASSWORD, token)
    if payload is None:
        return None
    resident = db_session.get(Resident, str(payload.get("r")))
    if resident is None or not resident.is_active:
        return None
    if payload.get("f") != tokens.fingerprint(resident.password_hash):
        return None
    return resident


@transactional
def reset_password(token: str, new_password: str) -> bool:
    """Set a new password from a reset link, ending every session; False if the link is bad.

    Following the link proves the resident controls the address, so it also confirms it
    and ends a pause of password sign-in (``throttle``).
    """
    resident = resident_for_reset(token)
    if resident is None:
        return False
    resident.password_hash = hash_password(new_password)
    fields = ["password_hash"]
    if resident.email_verified_at is None:
        resident.email_verified_at = utcnow()
        fields.append("email_verified_at")
    end_all_sessions(resident.id)
    throttle.clear(resident_account(resident), throttle.source_of())
    audit.record(
        "password.reset",
        resident_id=resident.id,
        actor_type="resident",
        actor_id=resident.id,
        channel="web",
        details={"fields": fields},
    )
    if resident.email:
        mail.queue(
            resident.email, "password_changed", reset=mail.external_url("accounts.forgot_password")
        )
    return True
