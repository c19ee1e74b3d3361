"""The readers' operations in ``/api/v1/openapi.json``: taps and card sign-in, documented
with their bodies, answers and failures, and schemathesis finding every answer as documented.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.cards.test_taps_api import bearer
from tests.oauth.conftest import make_rp
from tests.partner_api.test_openapi import run_operation

READER_SCOPE = "taps:write card-sign-in:write snapshots:read"
#: Each reader operation: its request and answer schemas, and the failures it declares.
OPERATIONS = {
    "/api/v1/taps": ("TapRequest", "TapDecision", {"400", "401", "403", "409", "422", "503"}),
    "/api/v1/card-sign-in/challenge": (
        "SignInCode",
        "SignInChallenge",
        {"400", "401", "403", "404", "409", "410"},
    ),
    "/api/v1/card-sign-in/answer": (
        "SignInAnswer",
        "SignInMessage",
        {"400", "401", "403", "404", "409", "410", "422"},
    ),
    "/api/v1/card-sign-in/report": (
        "SignInReport",
        "SignInMessage",
        {"400", "401", "403", "404", "409", "410", "422"},
    ),
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def test_the_document_describes_every_reader_operation(client: FlaskClient) -> None:
    document = json.loads(client.get("/api/v1/openapi.json").data)
    for path, (request, answer, failures) in OPERATIONS.items():
        operation = document["paths"][path]["post"]
        body = operation["requestBody"]["content"]["application/json"]["schema"]
        assert body == _ref(request), path
        responses = operation["responses"]
        assert responses["200"]["content"]["application/json"]["schema"] == _ref(answer)
        assert set(responses) == {"200", "default", *failures}, path
        for status in failures:
            schema = responses[status]["content"]["application/json"]["schema"]
            assert schema == _ref("Error"), (path, status)
        for status in {"401", "403"}:
            assert "WWW-Authenticate" in responses[status]["headers"], (path, status)
        assert operation["security"][0].keys() == {"reader"}
    scheme = document["components"]["securitySchemes"]["reader"]["flows"]["clientCredentials"]
    assert set(scheme["scopes"]) == set(READER_SCOPE.split())


@pytest.fixture
def reader_token(app: Flask, client: FlaskClient) -> dict[str, str]:
    reader = make_rp(
        app,
        name="Library kiosk 3",
        redirect_uris=[],
        grant_types=["client_credentials"],
        scope=READER_SCOPE,
    )
    return bearer(client, reader, READER_SCOPE)


def _operations(app: Flask) -> list[Any]:
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    operations = [op for op in operations if op.path in OPERATIONS]
    assert len(operations) == len(OPERATIONS)
    return operations


#: A body the schema accepts may still be refused: no schema can say what a genuine card's
#: answer is, and the refusal (422 ``unprocessable_tap``...) is documented.
_EXCLUDED = [positive_data_acceptance]


def _run(operation: Any, mode: GenerationMode, headers: dict[str, str] | None) -> set[int]:
    return run_operation(operation, mode, headers, max_examples=25, excluded_checks=_EXCLUDED)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_reader_operations_answer_as_documented(
    app: Flask, reader_token: dict[str, str], mode: GenerationMode
) -> None:
    seen: set[int] = set()
    for operation in _operations(app):
        seen |= _run(operation, mode, reader_token)
    # Real refusals of what was sent, not only one kind of error.
    expected = {404, 422} if mode is GenerationMode.POSITIVE else {400}
    assert expected <= seen, seen


def test_reader_operations_without_a_token(app: Flask) -> None:
    for operation in _operations(app):
        assert _run(operation, GenerationMode.POSITIVE, None) == {401}
