"""schemathesis against ``/api/v1/openapi.json``'s partner operations: no 5xx, every
response as documented (the readers' operations: tests/cards/test_reader_openapi.py).

Runs in process on the app (WSGI), on whichever database the suite uses, once with valid
tokens (a partner allowed library and older person's bus pass checks; a resident's own
token for ``/me``) and once with no token at all.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from idservice.db import db_session
from idservice.models.residents import Resident
from tests.accounts.conftest import in_app
from tests.oauth.conftest import make_rp
from tests.partner_api.conftest import (
    BUS_PASS,
    LIBRARY,
    active_card,
    grant,
    make_partner,
    new_resident,
    resident_tokens,
    service_token,
)

#: The example card number in the OpenAPI document: on the register in these tests.
EXAMPLE_CARD = "9826010000000015"


@dataclass
class Tokens:
    partner: dict[str, str]
    resident: dict[str, str]

    def for_path(self, path: str) -> dict[str, str]:
        return self.resident if path.startswith("/api/v1/me/") else self.partner


@pytest.fixture
def tokens(app: Flask, client: FlaskClient) -> Iterator[Tokens]:
    partner = make_partner(app, "Kent Libraries", f"{LIBRARY} {BUS_PASS}", "libraries.example")
    resident = new_resident(app)
    grant(app, resident, "library")
    grant(app, resident, "bus-pass-older")
    active_card(app, resident, card_number=EXAMPLE_CARD)
    app_rp = make_rp(app, name="Kent app", scope="openid entitlements")
    with in_app(app):
        person = db_session.get(Resident, resident)
        assert person is not None
        own = resident_tokens(app, client, person, app_rp, "openid entitlements")
    yield Tokens(
        partner=service_token(client, partner.rp, f"{LIBRARY} {BUS_PASS}"),
        resident={"Authorization": f"Bearer {own['access_token']}"},
    )


#: The partner API's paths in the one document (the readers' share it).
PARTNER_PATHS = ("/api/v1/checks/", "/api/v1/me/")


def _operations(app: Flask) -> list[Any]:
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    operations = [op for op in operations if op.path.startswith(PARTNER_PATHS)]
    assert len(operations) == 3
    return operations


def run_operation(
    operation: Any,
    mode: GenerationMode,
    headers: dict[str, str] | None,
    *,
    max_examples: int = 40,
    excluded_checks: Sequence[Any] = (),
) -> set[int]:
    """Hypothesis drives one operation; schemathesis checks every response it gets.

    (schemathesis' own pytest loader does not work with pytest 9, so the strategies
    are driven directly; the checks are the same ``call_and_validate`` runs.)
    """
    seen: set[int] = set()

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def run(case: Any) -> None:
        response = case.call_and_validate(headers=headers, excluded_checks=list(excluded_checks))
        assert response.status_code < 500
        seen.add(response.status_code)

    run()
    return seen


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_api_with_valid_tokens(app: Flask, tokens: Tokens, mode: GenerationMode) -> None:
    seen: set[int] = set()
    for operation in _operations(app):
        if mode is GenerationMode.NEGATIVE and operation.method.upper() == "GET":
            continue  # GET /me/entitlements takes no input: nothing to get wrong
        seen |= run_operation(operation, mode, tokens.for_path(operation.path))
    # The runs reached real answers and real refusals, not only one kind of error.
    expected = {200, 403} if mode is GenerationMode.POSITIVE else {404, 422}
    assert expected <= seen, seen


def test_api_without_a_token(app: Flask) -> None:
    """Nothing but 401 without a token: not even validation details."""
    for operation in _operations(app):
        assert run_operation(operation, GenerationMode.POSITIVE, None) == {401}


def test_the_document_declares_every_error_response(client: FlaskClient) -> None:
    spec = json.loads(client.get("/api/v1/openapi.json").data)  # larger than a request may be
    assert spec["openapi"].startswith("3.")
    for path, item in spec["paths"].items():
        if not path.startswith(PARTNER_PATHS):
            continue
        for method, op in item.items():
            if method == "parameters":
                continue
            declared = set(op["responses"])
            assert {"200", "401", "403", "default"} <= declared, (path, method)
            if method == "post":
                assert {"400", "404", "422", "429"} <= declared, (path, method)
    error = spec["components"]["schemas"]["Error"]
    assert error["required"] == ["error", "message"]
    scopes = spec["components"]["securitySchemes"]["partner"]["flows"]["clientCredentials"]
    assert LIBRARY in scopes["scopes"] and BUS_PASS in scopes["scopes"]
