"""Every API under ``/api/`` refuses alike: the documented body, never cached.

One contract (idservice/api_errors.py): ``{"error": code, "message": words}`` with
``Cache-Control: no-store``, ``WWW-Authenticate`` on 401 and 403 ``insufficient_scope``,
``Allow`` on 405, whichever blueprint answers, and on API paths no blueprint has.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.exceptions import HTTPException

from idservice import api_errors
from tests.oauth.conftest import _fresh_keys
from tests.partner_api.conftest import LIBRARY, UNKNOWN_CARD, make_partner, service_token

__all__ = ["_fresh_keys"]

#: Each API blueprint: an operation, the scope it needs, a body it accepts the form of,
#: and a request it answers 404 (its own not-found code).
APIS: dict[str, dict[str, Any]] = {
    "taps": {
        "path": "/api/v1/taps",
        "scope": "taps:write",
        "not_found": ("/api/v1/taps/elsewhere", {}, "not_found"),
    },
    "card sign-in": {
        "path": "/api/v1/card-sign-in/challenge",
        "scope": "card-sign-in:write",
        "not_found": ("/api/v1/card-sign-in/challenge", {"code": "AAAA-AAAA"}, "unknown_code"),
    },
    "partner checks": {
        "path": "/api/v1/checks/library/by-card-number",
        "scope": LIBRARY,
        "not_found": ("/api/v1/checks/swimming/by-card-number", {}, "not_found"),
    },
}
ALL_SCOPES = " ".join(api["scope"] for api in APIS.values())


def assert_contract(response: Any, status: int, error: str) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["error"] == error
    assert isinstance(body["message"], str) and body["message"]
    assert set(body) <= {"error", "message", "errors"}
    return body  # type: ignore[no-any-return]


@pytest.fixture
def token(app: Flask, client: FlaskClient) -> Any:
    machine = make_partner(app, "Every API", ALL_SCOPES, "every.example")

    def issue(scope: str) -> dict[str, str]:
        return service_token(client, machine.rp, scope)

    return issue


@pytest.mark.parametrize("name", list(APIS))
def test_no_token_is_401_with_a_challenge(client: FlaskClient, name: str) -> None:
    response = client.post(APIS[name]["path"], json={"code": "AAAA-AAAA"})
    assert_contract(response, 401, "invalid_token")
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


@pytest.mark.parametrize("name", list(APIS))
def test_a_token_for_another_api_is_403_naming_the_scope(
    client: FlaskClient, token: Any, name: str
) -> None:
    other = next(api["scope"] for key, api in APIS.items() if key != name)
    response = client.post(APIS[name]["path"], json={"code": "AAAA-AAAA"}, headers=token(other))
    assert_contract(response, 403, "insufficient_scope")
    needed = APIS[name]["scope"]
    assert response.headers["WWW-Authenticate"] == (
        f'Bearer error="insufficient_scope", scope="{needed}"'
    )


@pytest.mark.parametrize("name", list(APIS))
def test_a_body_that_is_not_json_is_400(client: FlaskClient, token: Any, name: str) -> None:
    headers = token(APIS[name]["scope"])
    response = client.post(
        APIS[name]["path"], data="{", content_type="application/json", headers=headers
    )
    assert_contract(response, 400, "invalid_request")
    assert "WWW-Authenticate" not in response.headers


@pytest.mark.parametrize("name", list(APIS))
def test_what_is_not_there_is_404(client: FlaskClient, token: Any, name: str) -> None:
    path, body, error = APIS[name]["not_found"]
    response = client.post(path, json=body, headers=token(APIS[name]["scope"]))
    assert_contract(response, 404, error)


def test_a_partner_check_with_fields_wrong_is_422_with_the_fields(
    client: FlaskClient, token: Any
) -> None:
    response = client.post(
        APIS["partner checks"]["path"], json={"card": UNKNOWN_CARD}, headers=token(LIBRARY)
    )
    body = assert_contract(response, 422, "invalid_request")
    assert set(body["errors"]) == {"card", "card_number"}


def test_api_paths_outside_the_blueprints_answer_by_the_same_contract(
    client: FlaskClient,
) -> None:
    assert_contract(client.get("/api/v2/anything"), 404, "not_found")
    wrong_method = client.get("/api/v1/taps")
    assert_contract(wrong_method, 405, "method_not_allowed")
    assert set(wrong_method.headers["Allow"].split(", ")) == {"OPTIONS", "POST"}


#: flask-smorest's own blueprint serves the OpenAPI document (GET only); what it could
#: refuse is answered by the app's handler, which on API paths renders the same way.
OPENAPI_DOCUMENT = "kentcard-api-docs"


def test_every_api_blueprint_has_the_one_handler(app: Flask) -> None:
    api_blueprints = [
        name
        for name, bp in app.blueprints.items()
        if (bp.url_prefix or "").startswith("/api/") and name != OPENAPI_DOCUMENT
    ]
    assert {"cards_api", "card_sign_in_api", "partner_api"} <= set(api_blueprints)
    for name in api_blueprints:
        handlers = app.error_handler_spec.get(name, {}).get(None, {})
        assert api_errors.ApiError in handlers, name
        assert handlers[api_errors.ApiError] is api_errors._api_error, name
        assert handlers[HTTPException] is api_errors._http_error, name
