"""Every kind of check answer through ``CHECK_RESULT_SCHEMA``, the one serialiser of both
paths (the view and the lean path; tests/partner_api/test_lean_checks.py compares their
bytes): the wire form of docs/partner-api.md, extras only when released."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from idservice.partner_api.checks import REASONS, CheckResult
from idservice.partner_api.schemas import CHECK_RESULT_SCHEMA

UNTIL = date(2027, 3, 31)
PROFILE = {"given_name": "Ada", "family_name": "Byron"}
SUBJECT = "s" * 43


def _results() -> list[tuple[str, CheckResult]]:
    kinds = [(reason, CheckResult("library", False, reason)) for reason in REASONS]
    kinds[0] = ("entitled", CheckResult("library", True, "entitled", UNTIL))
    kinds += [
        ("entitled, no end", CheckResult("library", True, "entitled")),
        ("with subject", CheckResult("library", True, "entitled", UNTIL, subject=SUBJECT)),
        ("with profile", CheckResult("library", False, "not_entitled", profile=PROFILE)),
    ]
    return kinds


@pytest.mark.parametrize(("kind", "result"), _results(), ids=lambda v: str(v))
def test_each_answer_kind_is_the_documented_wire_form(kind: str, result: CheckResult) -> None:
    expected: dict[str, Any] = {
        "service": result.service,
        "entitled": result.entitled,
        "valid_until": result.valid_until.isoformat() if result.valid_until else None,
        "reason": result.reason,
    }
    if result.subject is not None:
        expected["subject"] = result.subject
    if result.profile is not None:
        expected["profile"] = result.profile
    assert CHECK_RESULT_SCHEMA.dump(result) == expected
    assert CHECK_RESULT_SCHEMA.validate(CHECK_RESULT_SCHEMA.dump(result)) == {}
