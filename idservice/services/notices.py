"""One way to tell a resident something: email when we have an address, else a letter.

Everything that changes what a resident holds tells them through :func:`send`: an
entitlement ended or ending, a decision on their request, a service they can now get, a
renewal coming up. The words come from one template per kind
(``templates/notices/<kind>.txt``, first line the subject), written for both channels, so a
resident without email gets the same letter a resident with one gets by email. A letter is
queued "to post" with the formats the resident asked for (large print, Easy Read, audio,
Braille); the print run (``kentcard notices letters``) addresses it from the record when it
prints it and marks it posted.

The notice, the email in the outbox and the audit record are written in the caller's
transaction, so a change that rolls back tells nobody anything. Bodies never contain a
name or an address (the outbox may log them in development).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import render_template
from sqlalchemy import select

from idservice import audit
from idservice.db import db_session, transactional
from idservice.models.base import utcnow
from idservice.models.mail import OutboundEmail
from idservice.models.notices import (
    NOTICE_EMAIL,
    NOTICE_LETTER,
    NOTICE_POSTED,
    NOTICE_QUEUED,
    NOTICE_TO_POST,
    Notice,
)
from idservice.models.residents import ALTERNATIVE_FORMATS, Resident
from idservice.services import mail

#: Kinds of notice and what each tells the resident (the template says how).
KINDS: Mapping[str, str] = {
    "entitlement-ended": "A service has ended because you no longer qualify for it",
    "entitlement-ending": "A service will end because you no longer qualify for it",
    "entitlement-shortened": "A service will end sooner than it was going to",
    "request-approved": "We approved your request for a service",
    "request-refused": "We refused your request for a service",
    "request-closed": "We closed your request because you no longer qualify",
    "services-offered": "Services you can now get",
    "renewal-due": "A service is coming up for renewal",
    "entitlement-expired": "A service has come to its end date",
    "moved-out-of-kent": "Services that end on moving out of Kent",
    "name-changed": "The name on the account was changed",
    "address-changed": "The address on the account was changed",
    "entitlement-paused": "A service is paused until you confirm your details",
}


class UnknownNotice(ValueError):
    """A notice kind with no template: a programming error, caught in tests."""


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str


def render(kind: str, context: Mapping[str, Any]) -> Rendered:
    """The notice's words: the template's first line is the subject, the rest the body."""
    if kind not in KINDS:
        raise UnknownNotice(kind)
    text = render_template(f"notices/{kind}.txt", **context)
    subject, _, body = text.strip().partition("\n")
    return Rendered(subject.strip(), body.strip() + "\n")


def channel_for(resident: Resident) -> str:
    """Email when the resident gave us an address, otherwise a letter."""
    return NOTICE_EMAIL if resident.email else NOTICE_LETTER


def dao_notice_by_key(key: str) -> Notice | None:
    return db_session.scalar(select(Notice).where(Notice.dedupe_key == key))


def send(
    resident: Resident, kind: str, *, dedupe_key: str | None = None, **context: Any
) -> Notice | None:
    """Tell ``resident`` in the caller's transaction; None if ``dedupe_key`` was sent before
    (a job that runs twice tells once) or the record can no longer be written to."""
    return send_many([Outgoing(resident, kind, context, dedupe_key)])[0]


@dataclass(frozen=True)
class Outgoing:
    """One notice to send with :func:`send_many`."""

    resident: Resident
    kind: str
    context: Mapping[str, Any]
    dedupe_key: str | None = None


def dao_sent_keys(keys: list[str]) -> set[str]:
    if not keys:
        return set()
    return set(db_session.scalars(select(Notice.dedupe_key).where(Notice.dedupe_key.in_(keys))))


def send_many(outgoing: list[Outgoing]) -> list[Notice | None]:
    """:func:`send` for many notices at once (the sweep's batches): the same checks and
    rows, written with a handful of statements instead of a few per notice. A dedupe key
    that appears twice in ``outgoing`` is sent once."""
    sent = dao_sent_keys([o.dedupe_key for o in outgoing if o.dedupe_key is not None])
    made: list[Notice | None] = []
    emails: list[tuple[Notice, OutboundEmail]] = []
    for item in outgoing:
        resident = item.resident
        if (item.dedupe_key is not None and item.dedupe_key in sent) or resident.status == "erased":
            made.append(None)
            continue
        if item.dedupe_key is not None:
            sent.add(item.dedupe_key)
        words = render(item.kind, item.context)
        channel = channel_for(resident)
        notice = Notice(
            resident_id=resident.id,
            kind=item.kind,
            channel=channel,
            status=NOTICE_QUEUED if channel == NOTICE_EMAIL else NOTICE_TO_POST,
            context=dict(item.context),
            formats=sorted(resident.alternative_formats or []),
            dedupe_key=item.dedupe_key,
        )
        if resident.email:
            subject, body = words.subject, words.body
            emails.append(
                (notice, mail.dao_add_email(resident.email, f"notice:{item.kind}", subject, body))
            )
        made.append(notice)
    if emails:
        db_session.flush()
        for notice, message in emails:
            notice.email_id = message.id
    notices = [n for n in made if n is not None]
    if not notices:
        return made
    db_session.add_all(notices)
    db_session.flush()
    for notice in notices:
        audit.record(
            "notice.queued",
            resident_id=notice.resident_id,
            actor_type="system",
            actor_id=None,
            channel="system",
            details={"kind": notice.kind, "notice_channel": notice.channel, "notice": notice.id},
        )
    return made


# --- letters ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Letter:
    notice_id: int
    kind: str
    formats: list[str]
    address: list[str]
    subject: str
    text: str


def dao_letters_to_post(limit: int = 1000) -> list[tuple[Notice, Resident]]:
    query = (
        select(Notice, Resident)
        .join(Resident, Resident.id == Notice.resident_id)
        .where(Notice.channel == NOTICE_LETTER, Notice.status == NOTICE_TO_POST)
        .order_by(Notice.id)
        .limit(limit)
    )
    return [(row[0], row[1]) for row in db_session.execute(query)]


def letter(notice: Notice, resident: Resident) -> Letter:
    """The letter as it is printed today: addressed from the record, in the notice's words."""
    words = render(notice.kind, notice.context)
    name = f"{resident.given_name} {resident.family_name}".strip()
    address = [
        line
        for line in (
            name,
            resident.address_line_1,
            resident.address_line_2,
            resident.town,
            resident.postcode,
        )
        if line
    ]
    text = render_template(
        "notices/letter.txt",
        name=name,
        address=address,
        subject=words.subject,
        body=words.body,
        sent_on=notice.created_at.date(),
        formats=[ALTERNATIVE_FORMATS.get(f, f) for f in notice.formats],
    )
    return Letter(notice.id, notice.kind, list(notice.formats), address, words.subject, text)


@transactional
def mark_posted(notice_ids: list[int]) -> int:
    """After the print run: these letters went in the post."""
    count = 0
    for notice in db_session.scalars(
        select(Notice).where(Notice.id.in_(notice_ids), Notice.status == NOTICE_TO_POST)
    ):
        notice.status = NOTICE_POSTED
        notice.posted_at = utcnow()
        count += 1
    return count


def dao_notices_for(resident_id: str, limit: int = 50) -> list[Notice]:
    query = (
        select(Notice)
        .where(Notice.resident_id == resident_id)
        .order_by(Notice.created_at.desc(), Notice.id.desc())
        .limit(limit)
    )
    return list(db_session.scalars(query))
