"""The redaction filter: personal data masked, ordinary log lines left as they are."""

from __future__ import annotations

import io
import logging
import sys

import pytest

from idservice.logsafe import RedactingFilter, configure_logging, redact, redact_record

MASKED = [
    ("sent to grace.hopper@example.com", "sent to [email]"),
    ("GET /x?email=Grace.Hopper%40Example.com HTTP/1.1", "GET /x?email=[email] HTTP/1.1"),
    ("postcode CT20 1PX", "postcode [postcode]"),
    ("postcode ct20 1px", "postcode [postcode]"),
    ("postcode CT201PX", "postcode [postcode]"),
    ("?postcode=ME14+1XQ&x=1", "?postcode=[postcode]&x=1"),
    ("call 07700 900 982", "call [phone]"),
    ("call 07700900982", "call [phone]"),
    ("call +44 7700 900982", "call [phone]"),
    ("call 01227 764000.", "call [phone]."),
    ("born 1948-06-02", "born [date]"),
    ("born 2/6/1948", "born [date]"),
    ("born 02-06-1948", "born [date]"),
    ("born 2 June 1948", "born [date]"),
    ("card 9826010000000002 tapped", "card [card number] tapped"),
    ("card 9826 0100 0000 0002 tapped", "card [card number] tapped"),
    ("card 4111-1111-1111-1111", "card [card number]"),
]

KEPT = [
    "email 42 attempt 1 failed: SMTPRecipientsRefused",
    "created signing key 9f8e7d6c5b4a39281706f5e4d3c2b1a0, signing from 2026-12-07T14:00:00+00:00",
    "resident 3f2a9c1e-7b4d-4e8a-9c0f-1a2b3c4d5e6f registered",
    "at 2026-12-07 14:26:29,123 the job finished in 0.0123 s",
    "GET /account/security 200 (12 ms)",
    "Rebuilt 1234567 entitlement states; 16 events; key id a1b2c3d4e5f60718",
    "number 9826010000000008 is not a card number (Luhn fails)",
    "tap decided: allowed (reader rd-07)",
    "refresh token reused; revoked family of 3 tokens",
    "ledger size 1000000000000000",
    "call the contact centre on 03000 41 41 41 (Text Relay: 18001 03000 41 41 41)",
]


@pytest.mark.parametrize(("line", "expected"), MASKED)
def test_personal_data_is_masked(line: str, expected: str) -> None:
    assert redact(line) == expected
    assert redact(expected) == expected


@pytest.mark.parametrize("line", KEPT)
def test_ordinary_lines_are_left_alone(line: str) -> None:
    assert redact(line) == line


def _record(msg: str, *args: object, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("no account for ada@example.com at CT9 1AA")
        except ValueError:
            exc_info = sys.exc_info()
    return logging.LogRecord("idservice.x", logging.WARNING, __file__, 1, msg, args, exc_info)


def test_arguments_and_exception_text_are_redacted() -> None:
    record = redact_record(_record("refused %s (%s)", "ada@example.com", "07700 900 982", exc=True))
    assert record.getMessage() == "refused [email] ([phone])"
    assert record.exc_info is None and record.exc_text is not None
    assert "ValueError: no account for [email] at [postcode]" in record.exc_text
    assert "ada@example.com" not in record.exc_text


def test_a_handler_with_the_filter_writes_redacted_lines() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(RedactingFilter())
    record = _record("refused %s", "ada@example.com", exc=True)
    handler.handle(record)
    written = stream.getvalue()
    assert written.startswith("WARNING refused [email]\n")
    assert "ada@example.com" not in written


def test_configure_logging_puts_the_filter_on_every_handler_and_record() -> None:
    root = logging.getLogger()
    app_logger = logging.getLogger("idservice")
    stream = io.StringIO()
    root_handler, app_handler = logging.StreamHandler(stream), logging.StreamHandler(stream)
    root.addHandler(root_handler)
    app_logger.addHandler(app_handler)
    try:
        configure_logging()
        for handler in (root_handler, app_handler):
            assert any(isinstance(f, RedactingFilter) for f in handler.filters)
        configure_logging()  # twice: still one filter each
        assert sum(isinstance(f, RedactingFilter) for f in root_handler.filters) == 1
        # Records are redacted as they are made, for handlers added later too.
        made = logging.getLogger("elsewhere").makeRecord(
            "elsewhere", logging.INFO, __file__, 1, "to %s", ("ada@example.com",), None
        )
        assert made.getMessage() == "to [email]"
        # SQL rows and parameters are residents' records: never logged, even at DEBUG.
        assert not logging.getLogger("sqlalchemy.engine.Engine").isEnabledFor(logging.INFO)
    finally:
        root.removeHandler(root_handler)
        app_logger.removeHandler(app_handler)
