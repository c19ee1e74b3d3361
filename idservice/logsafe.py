"""Logging without personal data: one setup, and a redaction filter on every record.

The code takes care never to log residents' details, but a log line is easy to get wrong
(an exception's text quoting an SMTP server's reply, a request path with an address in
its query). So every record is redacted before any handler writes it: email addresses,
UK postcodes, phone numbers, dates without a time (dates of birth) and card numbers
(16 to 19 digits passing the Luhn check) become ``[email]``, ``[postcode]`` and so on, in
the message, its arguments, the exception text and the stack. Timestamps, ids, counts
and paths are left as they are.

:func:`configure_logging` (called by ``create_app``) sets up the root handler as before,
puts :class:`RedactingFilter` on every handler of the root logger and the app's loggers,
and redacts records as they are made, so a handler added later (a WSGI server's, a test's)
receives redacted records too. SQL parameters and rows are never logged
(``hide_parameters`` on the engines, :func:`idservice.db.make_engine`, and the
``sqlalchemy.engine`` logger kept at WARNING unless set otherwise).
"""

from __future__ import annotations

import logging
import re
import traceback
from typing import Any

#: Loggers whose handlers get the filter besides the root's (the app's own and the
#: libraries that log requests).
APP_LOGGERS = ("idservice", "werkzeug", "authlib", "sqlalchemy", "alembic", "cardio")

_EMAIL = re.compile(r"[\w.%+-]+(?:@|%40)[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}")
# Card numbers first: 16-19 digits, run together or in groups of four, checked with Luhn.
_DIGIT_RUN = re.compile(r"(?<![\w.])(?:\d{16,19}|\d{4}(?:[ -]\d{4}){3}(?:[ -]\d{1,4})?)(?!\w|\.\d)")
# Personal phone numbers: landlines (01, 02) and mobiles (07); 03 and 08 numbers are
# organisations' (the contact centre's, in every email).
_PHONE = re.compile(r"(?<![\w.+])(?:\+44[ -]?(?:\(0\)[ -]?)?|0)[127](?:[ -]?\d){8,9}(?!\w|\.\d)")
# UK postcodes: "CT20 1PX" in any case with the space (or its URL forms); without it,
# capitals only, so that hexadecimal ids are left alone.
_POSTCODE = re.compile(
    r"\b(?:(?i:[A-Z]{1,2}[0-9][A-Z0-9]?(?: |\+|%20)[0-9][A-Z]{2})"
    r"|[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][A-Z]{2})\b"
)
_MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
# Dates that are not part of a timestamp: 1948-06-02, 2/6/1948, 02-06-1948, 2 June 1948.
_DATE = re.compile(
    r"(?<![\w:.-])(?:\d{4}-\d{1,2}-\d{1,2}(?![\w:.]|[ T]\d{1,2}:)"
    r"|\d{1,2}[/.-]\d{1,2}[/.-]\d{4}(?![\w:.])"
    rf"|\d{{1,2}} (?:{_MONTHS}) \d{{4}}\b)"
)


def _luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return "[card number]" if 16 <= len(digits) <= 19 and _luhn_valid(digits) else match.group(0)


def redact(text: str) -> str:
    """``text`` with personal data masked (idempotent: redacting twice changes nothing)."""
    text = _EMAIL.sub("[email]", text)
    text = _DIGIT_RUN.sub(_card, text)
    text = _PHONE.sub("[phone]", text)
    text = _POSTCODE.sub("[postcode]", text)
    return _DATE.sub("[date]", text)


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    """Redact the finished message, the exception and the stack of ``record`` in place.

    The arguments are merged into the message first (``args`` emptied), so no handler can
    format the original values again; the exception becomes text (``exc_text``) for the
    same reason.
    """
    if getattr(record, "kentcard_redacted", False):
        return record
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: keep what we can show safely
        message = f"{record.msg!s} (arguments not shown)"
    record.msg = redact(message)
    record.args = None
    if record.exc_info:
        exc_text = record.exc_text or "".join(traceback.format_exception(*record.exc_info))
        record.exc_text = redact(exc_text.rstrip("\n"))
        record.exc_info = None
    elif record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    record.kentcard_redacted = True
    return record


class RedactingFilter(logging.Filter):
    """Masks personal data in every record the handler it is attached to writes."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


_factory_installed = False


def _install_record_factory() -> None:
    global _factory_installed
    if _factory_installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return redact_record(previous(*args, **kwargs))

    logging.setLogRecordFactory(factory)
    _factory_installed = True


def attach_filter(logger: logging.Logger) -> None:
    for handler in logger.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())


def configure_logging(*loggers: logging.Logger) -> None:
    """The app's logging: a root handler at INFO, redaction on every handler and record."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    _install_record_factory()
    # SQLAlchemy logs statements with their result rows (residents' records) once its
    # logger is enabled; root at DEBUG must not turn that on.
    engine_logger = logging.getLogger("sqlalchemy.engine")
    if engine_logger.level == logging.NOTSET:
        engine_logger.setLevel(logging.WARNING)
    attach_filter(logging.getLogger())
    for name in APP_LOGGERS:
        attach_filter(logging.getLogger(name))
    for logger in loggers:
        attach_filter(logger)
