"""``GET /api/v1/snapshots/{mode}``: full lists, deltas, ETags and the reader's scope."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cardio.snapshot import SnapshotKeyring, verify
from tests.cards.test_taps_api import bearer
from tests.oauth.conftest import RP, make_rp
from tests.snapshots.conftest import NOW, IssueCard, build, report

SCOPE = "snapshots:read"
MEDIA_TYPE = "application/vnd.kentcard.offline-list"


@pytest.fixture
def reader(app: Flask) -> RP:
    return make_rp(
        app,
        name="Bus 42 reader",
        redirect_uris=[],
        grant_types=["client_credentials"],
        scope="taps:write snapshots:read",
    )


@pytest.fixture
def headers(client: FlaskClient, reader: RP) -> dict[str, str]:
    return bearer(client, reader, SCOPE)


def test_the_reader_gets_the_full_list_then_nothing_until_it_changes(
    app: Flask,
    client: FlaskClient,
    headers: dict[str, str],
    issue_card: IssueCard,
    keyring: SnapshotKeyring,
) -> None:
    issue_card("library")
    (first,) = build(app, "library")
    full = client.get("/api/v1/snapshots/library", headers=headers)
    assert full.status_code == 200 and full.mimetype == MEDIA_TYPE
    assert full.data == first.full
    assert full.headers["ETag"] == f'"library-v{first.version}"'
    assert full.headers["Cache-Control"] == "no-cache"
    assert verify(full.data, keyring, "library").header.version == first.version
    unchanged = client.get(
        f"/api/v1/snapshots/library?since={first.version}",
        headers={**headers, "If-None-Match": full.headers["ETag"]},
    )
    assert unchanged.status_code == 304 and unchanged.data == b""
    assert unchanged.headers["ETag"] == full.headers["ETag"]
    weak = client.get(
        "/api/v1/snapshots/library",
        headers={**headers, "If-None-Match": f'W/"library-v{first.version}"'},
    )
    assert weak.status_code == 304
    (second,) = build(app, "library", now=NOW + timedelta(hours=1))
    changed = client.get(
        f"/api/v1/snapshots/library?since={first.version}",
        headers={**headers, "If-None-Match": full.headers["ETag"]},
    )
    assert changed.status_code == 200
    assert changed.headers["ETag"] == f'"library-v{second.version}"'
    assert changed.data == second.delta


def test_since_picks_a_delta_when_one_was_kept_else_the_full_list(
    app: Flask,
    client: FlaskClient,
    headers: dict[str, str],
    issue_card: IssueCard,
    keyring: SnapshotKeyring,
) -> None:
    card, _ = issue_card("bus-pass-older")
    (first,) = build(app, "transport")
    report(app, card, "stolen")
    (second,) = build(app, "transport", now=NOW + timedelta(hours=1))
    url = "/api/v1/snapshots/transport?since="
    delta = verify(client.get(url + str(first.version), headers=headers).data, keyring, "transport")
    assert (delta.kind, delta.header.base_version, delta.header.records) == (
        "delta",
        first.version,
        1,
    )
    latest = verify(
        client.get(url + str(second.version), headers=headers).data, keyring, "transport"
    )
    assert (latest.kind, latest.header.records, latest.header.removed) == ("delta", 0, 0)
    for unknown in ("1", str(second.version + 5)):
        answer = verify(client.get(url + unknown, headers=headers).data, keyring, "transport")
        assert answer.kind == "full" and answer.version == second.version


@pytest.mark.parametrize(
    ("path", "status", "error"),
    [
        ("/api/v1/snapshots/ferry", 404, "unknown_mode"),
        ("/api/v1/snapshots/library", 503, "no_snapshot"),
        ("/api/v1/snapshots/library?since=abc", 400, "invalid_request"),
        ("/api/v1/snapshots/library?since=-1", 400, "invalid_request"),
    ],
)
def test_failures_are_the_documented_errors(
    client: FlaskClient, headers: dict[str, str], path: str, status: int, error: str
) -> None:
    answer = client.get(path, headers=headers)
    assert answer.status_code == status
    assert answer.get_json()["error"] == error
    assert answer.headers["Cache-Control"] == "no-store"


def test_only_a_token_with_the_scope_gets_a_list(
    app: Flask, client: FlaskClient, reader: RP, issue_card: IssueCard
) -> None:
    issue_card("library")
    build(app, "library")
    missing = client.get("/api/v1/snapshots/library")
    assert missing.status_code == 401 and missing.get_json()["error"] == "invalid_token"
    taps_only = client.get(
        "/api/v1/snapshots/library", headers=bearer(client, reader, "taps:write")
    )
    assert taps_only.status_code == 403
    assert taps_only.get_json()["error"] == "insufficient_scope"
    assert 'scope="snapshots:read"' in taps_only.headers["WWW-Authenticate"]
    not_registered = make_rp(
        app, name="Kiosk", redirect_uris=[], grant_types=["client_credentials"], scope="taps:write"
    )
    refused = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": SCOPE},
        headers=not_registered.basic,
    )
    assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_scope"


def test_the_operation_is_in_the_openapi_document(client: FlaskClient) -> None:
    document = json.loads(client.get("/api/v1/openapi.json").data)
    operation = document["paths"]["/api/v1/snapshots/{mode}"]["get"]
    assert operation["security"] == [{"reader": [SCOPE]}]
    assert set(operation["responses"]) >= {"200", "304", "400", "401", "403", "404", "503"}
    assert operation["responses"]["200"]["content"][MEDIA_TYPE]["schema"]["format"] == "binary"
    assert operation["responses"]["404"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }
    path_level = document["paths"]["/api/v1/snapshots/{mode}"]["parameters"]
    assert {p["name"] for p in operation["parameters"] + path_level} == {
        "mode",
        "since",
        "If-None-Match",
    }
    scopes = document["components"]["securitySchemes"]["reader"]["flows"]["clientCredentials"]
    assert SCOPE in scopes["scopes"]
    assert SCOPE in client.get("/.well-known/openid-configuration").get_json()["scopes_supported"]
