"""The readers' schemas: every kind of tap answer as documented, and the request schemas
holding the same verdicts as the views' own checks.

Both tap paths (the Flask view and the lean path) dump the answer through the one
``TAP_DECISION_SCHEMA``; tests/cards/test_lean_tap_path.py compares their bytes. Here each
kind of answer, allowed and every refusal code, is built as the paths build it and its
dump is checked against the wire form in docs/card-protocol.md and the OpenAPI document.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from flask.testing import FlaskClient

from cardio import spec
from cardio.verify import Reason
from idservice.api_errors import ApiError
from idservice.cards import taps
from idservice.cards.decisions import DECISION_CODES, TapDecision, decide_rows
from idservice.cards.schemas import (
    TAP_CODES,
    TAP_DECISION_SCHEMA,
    TapRequestSchema,
)
from idservice.models.cards import CARD_ACTIVE, CARD_EXPIRED, CARD_HOTLISTED, CARD_REPLACED

TODAY = date(2026, 11, 23)
KEY = b"\x04" + b"\x01" * 64


def _row(**overrides: Any) -> SimpleNamespace:
    values: dict[str, Any] = {
        "status": CARD_ACTIVE,
        "public_key": KEY,
        "hotlist_reason": None,
        "expiry": TODAY + timedelta(days=365),
        "service": None,
        "valid_from": None,
        "valid_until": None,
    }
    return SimpleNamespace(**{**values, **overrides})


def _held(service: str, **overrides: Any) -> SimpleNamespace:
    return _row(service=service, **overrides)


#: Every kind of answer :func:`decide_rows` gives, with the rows that give it.
DECIDED: dict[str, tuple[list[SimpleNamespace], str, bytes | None]] = {
    "entitled, until a day": ([_held("library", valid_until=TODAY)], "library", KEY),
    "entitled, no end": ([_held("bus-pass-older")], "transport", KEY),
    "unknown_card": ([_row(status=None)], "library", KEY),
    "not_registered": ([_row()], "library", b"\x04" + b"\x02" * 64),
    "hotlisted, reported": ([_row(status=CARD_HOTLISTED, hotlist_reason="lost")], "library", KEY),
    "hotlisted, cancelled": ([_row(status=CARD_HOTLISTED)], "library", KEY),
    "hotlisted, replaced": ([_row(status=CARD_REPLACED)], "library", KEY),
    "expired": ([_row(status=CARD_EXPIRED)], "library", KEY),
    "not_active": ([_row(status="issued")], "library", KEY),
    "entitlement_expired": (
        [_held("library", valid_until=TODAY - timedelta(days=1))],
        "library",
        KEY,
    ),
    "not_entitled": ([_row()], "transport", KEY),
}


def _all_decisions() -> list[tuple[str, TapDecision]]:
    decided = [(name, decide_rows(*case[:2], TODAY, case[2])) for name, case in DECIDED.items()]
    # The card's own refusals, as taps.decide_tap builds them from cardio's TapRejected.
    rejected = [(r.code, TapDecision(False, r.code, r.words)) for r in Reason]
    return decided + rejected


def _documented(client: FlaskClient) -> dict[str, Any]:
    document = json.loads(client.get("/api/v1/openapi.json").data)
    return document["components"]["schemas"]["TapDecision"]  # type: ignore[no-any-return]


def test_every_code_is_reached_and_documented() -> None:
    codes = {decision.code for _name, decision in _all_decisions()}
    assert codes == set(TAP_CODES) == set(DECISION_CODES) | {r.code for r in Reason}


@pytest.mark.parametrize(("name", "decision"), _all_decisions(), ids=lambda v: str(v))
def test_each_answer_kind_is_the_documented_wire_form(
    client: FlaskClient, name: str, decision: TapDecision
) -> None:
    sent = TAP_DECISION_SCHEMA.dump(decision)
    # docs/card-protocol.md: {"decision": "allow"|"deny", "code", "reason", "entitlement",
    # "valid_until"}; an ISO date or null.
    until = decision.valid_until
    assert sent == {
        "decision": "allow" if decision.allowed else "deny",
        "code": decision.code,
        "reason": decision.reason,
        "entitlement": decision.entitlement,
        "valid_until": until.isoformat() if until else None,
    }
    assert (sent["decision"] == "allow") == (sent["code"] == "entitled")
    documented = _documented(client)
    assert set(documented["required"]) == set(sent)
    for field, value in sent.items():
        described = documented["properties"][field]
        assert value is not None or described.get("nullable"), field
        assert value is None or value in described.get("enum", [value]), field


def _valid_body() -> dict[str, Any]:
    return {
        "select_answer": "6f00",
        "challenge": "00" * spec.CHALLENGE_LENGTH,
        "signature": "3006020101020101",
        "mode": "library",
    }


@pytest.mark.parametrize(
    "change",
    [
        {"select_answer": None},
        {"challenge": None},
        {"signature": None},
        {"mode": None},
        {"select_answer": ""},
        {"signature": "zz"},
        {"challenge": "abc"},
        {"challenge": "00" * (spec.CHALLENGE_LENGTH + 1)},
        {"mode": "ferry"},
        {"mode": 3},
    ],
    ids=lambda change: json.dumps(change),
)
def test_a_tap_the_schema_refuses_the_view_refuses(change: dict[str, Any]) -> None:
    body = {k: v for k, v in {**_valid_body(), **change}.items() if v is not None}
    assert TapRequestSchema().validate(body)
    with pytest.raises(ApiError) as refused:
        taps.parse_tap(body)
    assert refused.value.code in {"invalid_request", "unprocessable_tap"}


def test_a_tap_the_schema_accepts_is_refused_only_for_its_card_data() -> None:
    body = _valid_body()
    assert TapRequestSchema().validate(body) == {}
    with pytest.raises(ApiError) as refused:  # "6f00" is no Kent Card's SELECT answer
        taps.parse_tap(body)
    assert refused.value.code == "unprocessable_tap"
    assert str(refused.value).startswith("select_answer:")
