"""Every failure of the partner API is a documented ``{"error", "message"}`` body."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.partner_api.conftest import (
    LIBRARY,
    UNKNOWN_CARD,
    Partner,
    check_card,
    service_token,
)

CHECK = "/api/v1/checks/library/by-card-number"


def assert_error(response: Any, status: int, error: str) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert body["error"] == error and isinstance(body["message"], str) and body["message"]
    assert set(body) <= {"error", "message", "errors"}
    return body  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": "Basic a2VudDpjYXJk"},
        {"Authorization": "Bearer " + "e30." * 2 + "e30"},
    ],
)
def test_no_valid_token_is_401_with_a_challenge(
    client: FlaskClient, headers: dict[str, str]
) -> None:
    for response in (
        client.post(CHECK, json={"card_number": UNKNOWN_CARD}, headers=headers),
        client.post(CHECK, data="not json", headers=headers),  # no validation detail leaks
        client.get("/api/v1/me/entitlements", headers=headers),
    ):
        assert_error(response, 401, "invalid_token")
        assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


def test_a_revoked_token_is_401(client: FlaskClient, library_partner: Partner) -> None:
    headers = service_token(client, library_partner.rp, LIBRARY)
    token = headers["Authorization"].split()[1]
    revoked = client.post("/oauth/revoke", data={"token": token}, headers=library_partner.rp.basic)
    assert revoked.status_code == 200
    assert_error(check_card(client, headers, "library", UNKNOWN_CARD), 401, "invalid_token")


def test_an_unknown_service_is_404(client: FlaskClient, library_partner: Partner) -> None:
    headers = service_token(client, library_partner.rp, LIBRARY)
    assert_error(check_card(client, headers, "swimming", UNKNOWN_CARD), 404, "not_found")
    assert_error(client.get("/api/v1/no-such-thing", headers=headers), 404, "not_found")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "card_number"),
        ({"card_number": "98260"}, "card_number"),
        ({"card_number": "9826-0199-9999-9996"}, "card_number"),
        ({"card_number": 9826019999999996}, "card_number"),
        ({"card_number": UNKNOWN_CARD, "name": "Ada"}, "name"),
    ],
)
def test_bad_fields_are_422_with_field_details(
    client: FlaskClient, library_partner: Partner, body: dict[str, Any], field: str
) -> None:
    headers = service_token(client, library_partner.rp, LIBRARY)
    response = client.post(CHECK, json=body, headers=headers)
    details = assert_error(response, 422, "invalid_request")["errors"]
    assert list(details) == [field] and all(isinstance(m, str) for m in details[field])


def test_a_bad_subject_is_422(client: FlaskClient, library_partner: Partner) -> None:
    headers = service_token(client, library_partner.rp, LIBRARY)
    response = client.post(
        "/api/v1/checks/library/by-subject", json={"subject": "short"}, headers=headers
    )
    assert list(assert_error(response, 422, "invalid_request")["errors"]) == ["subject"]


def test_a_body_that_is_not_json_is_400(client: FlaskClient, library_partner: Partner) -> None:
    headers = service_token(client, library_partner.rp, LIBRARY)
    response = client.post(
        CHECK, data="{not json", headers={**headers, "Content-Type": "application/json"}
    )
    assert_error(response, 400, "invalid_request")


def test_a_wrong_method_is_405_with_allow(client: FlaskClient) -> None:
    response = client.delete(CHECK)
    assert_error(response, 405, "method_not_allowed")
    assert "POST" in response.headers["Allow"]


def test_too_many_checks_are_429_with_retry_after(
    app: Flask, client: FlaskClient, library_partner: Partner
) -> None:
    settings = app.config["KENTCARD"]
    before = dict(settings.extra.get("rate_limits", {}))
    settings.extra["rate_limits"] = {**before, "partner-api": 3}
    try:
        headers = service_token(client, library_partner.rp, LIBRARY)
        statuses = [
            check_card(client, headers, "library", UNKNOWN_CARD).status_code for _ in range(4)
        ]
        limited = check_card(client, headers, "library", UNKNOWN_CARD)
    finally:
        settings.extra["rate_limits"] = before
    assert statuses == [200, 200, 200, 429]
    assert_error(limited, 429, "rate_limited")
    assert 1 <= int(limited.headers["Retry-After"]) <= 61


def test_a_partner_token_cannot_list_a_resident_s_entitlements(
    client: FlaskClient, library_partner: Partner
) -> None:
    headers = service_token(client, library_partner.rp, LIBRARY)
    response = client.get("/api/v1/me/entitlements", headers=headers)
    assert_error(response, 403, "insufficient_scope")
    assert 'scope="entitlements"' in response.headers["WWW-Authenticate"]


def test_no_stack_trace_on_an_unexpected_failure(
    app: Flask, client: FlaskClient, library_partner: Partner, monkeypatch: pytest.MonkeyPatch
) -> None:
    from idservice.partner_api import dao

    def broken(*args: Any) -> None:
        raise RuntimeError("database went away")

    monkeypatch.setattr(dao, "dao_find_by_card_number", broken)
    monkeypatch.setattr(dao, "dao_lean_lookup", broken)  # the lean path hands it to the view
    headers = service_token(client, library_partner.rp, LIBRARY)
    response = check_card(client, headers, "library", UNKNOWN_CARD)
    body = assert_error(response, 500, "server_error")
    assert "database" not in body["message"]
