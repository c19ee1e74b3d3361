"""Outgoing email through the outbox table, and delivery by SMTP.

Email is written to ``outbound_emails`` in the same transaction as the change that causes
it, so a rolled-back change never sends mail. ``kentcard mail deliver`` sends the outbox
when SMTP is configured; in development the body is also written to the log so links can
be followed. Bodies never contain names or addresses, so logging them is safe; the
recipient is never logged.
"""

from __future__ import annotations

import logging
import smtplib
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from typing import TYPE_CHECKING, Any

from flask import current_app, render_template, url_for
from sqlalchemy import select

from idservice.db import db_session
from idservice.models.base import utcnow
from idservice.models.mail import OutboundEmail

if TYPE_CHECKING:
    from idservice.config import Settings

log = logging.getLogger(__name__)

#: A message that has failed this many times is left for a person to look at.
MAX_ATTEMPTS = 5

SUBJECTS = {
    "confirm_email": "Confirm your email address for your Kent account",
    "already_registered": "Someone tried to create a Kent account with your email address",
    "reset_password": "Reset your Kent account password",
    "password_changed": "Your Kent account password has changed",
    "change_email": "Confirm your new email address for your Kent account",
    "email_change_requested": "Your Kent account email address is being changed",
    "email_changed": "The email address for your Kent account has changed",
    "phone_changed": "The phone number on your Kent account has changed",
    "email_in_use": "Someone tried to use this email address for a Kent account",
    "account_closed": "Your Kent account has been closed",
    "second_factor_changed": "Your Kent account security settings have changed",
}


def external_url(endpoint: str, **values: Any) -> str:
    """An absolute link for an email, built on the configured issuer, never the Host header."""
    settings = current_app.config["KENTCARD"]
    return f"{settings.issuer}{url_for(endpoint, **values)}"


def dao_add_email(recipient: str, template: str, subject: str, body: str) -> OutboundEmail:
    message = OutboundEmail(recipient=recipient, subject=subject, body_text=body, template=template)
    db_session.add(message)
    return message


def queue(recipient: str, template: str, **context: Any) -> OutboundEmail:
    """Render ``accounts/email/<template>.txt`` into the outbox; the caller commits."""
    body = render_template(f"accounts/email/{template}.txt", **context)
    message = dao_add_email(recipient, template, SUBJECTS[template], body)
    db_session.flush()
    if not current_app.config["KENTCARD"].smtp_host:
        log.info("email %s (%s) queued; no SMTP configured:\n%s", message.id, template, body)
    return message


def dao_get_undelivered(limit: int = 100) -> list[OutboundEmail]:
    rows = db_session.scalars(
        select(OutboundEmail)
        .where(OutboundEmail.sent_at.is_(None), OutboundEmail.attempts < MAX_ATTEMPTS)
        .order_by(OutboundEmail.id)
        .limit(limit)
    )
    return list(rows)


@dataclass(frozen=True)
class DeliveryReport:
    sent: int
    failed: int


def _describe(exc: BaseException) -> str:
    """What went wrong, without the server's text (it may repeat the recipient's address)."""
    code = getattr(exc, "smtp_code", None)
    return f"{type(exc).__name__}{f' {code}' if code else ''}"


def _send_one(settings: Settings, message: OutboundEmail, smtp_factory: Callable[..., Any]) -> None:
    email = EmailMessage()
    email["From"] = settings.mail_from
    email["To"] = message.recipient
    email["Subject"] = message.subject
    email["Message-ID"] = make_msgid(domain="kent.gov.uk")
    email.set_content(message.body_text)
    with smtp_factory(settings.smtp_host, settings.smtp_port, timeout=30) as smtp:
        if settings.smtp_port != 25 or settings.smtp_user:
            smtp.starttls()
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password or "")
        smtp.send_message(email)


def deliver_outbox(
    settings: Settings,
    *,
    retries: int = 3,
    backoff: float = 2.0,
    smtp_factory: Callable[..., Any] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> DeliveryReport:
    """Send every undelivered message, retrying each up to ``retries`` times in this run.

    Each attempt is counted on the row, so a message that keeps failing across runs stops
    after :data:`MAX_ATTEMPTS`. Commits after every message: a crash never resends mail.
    """
    if not settings.smtp_host:
        raise RuntimeError("SMTP is not configured")
    factory = smtp_factory or smtplib.SMTP
    sent = failed = 0
    for message in dao_get_undelivered():
        for attempt in range(retries):
            message.attempts += 1
            try:
                _send_one(settings, message, factory)
            except (smtplib.SMTPException, OSError) as exc:
                message.last_error = _describe(exc)
                db_session.commit()
                log.warning(
                    "email %s attempt %s failed: %s", message.id, message.attempts, _describe(exc)
                )
                if attempt + 1 < retries and message.attempts < MAX_ATTEMPTS:
                    sleep(backoff * (2**attempt))
                    continue
                failed += 1
                break
            else:
                message.sent_at = utcnow()
                message.last_error = None
                db_session.commit()
                sent += 1
                break
    return DeliveryReport(sent=sent, failed=failed)
