"""``kentcard clients`` and ``kentcard keys``, and the demo service hook."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import select

from idservice.cli import main
from idservice.config import Settings
from idservice.db import db_session, session_factory
from idservice.models.oauth import OAuthClient, secret_digest
from idservice.oauth.clients import DEMO_CLIENT_ID, DEMO_NAME, DEMO_REDIRECT_URI


@pytest.fixture
def cli(app: Flask, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    for name, value in {
        "KENTCARD_DATABASE_URL": settings.database_url,
        "KENTCARD_SECRET_KEY": settings.secret_key,
        "KENTCARD_INSTANCE_PATH": str(settings.instance_path),
        "KENTCARD_ISSUER": settings.issuer,
        "KENTCARD_KEY_PUBLISH_LEAD": "3600",
    }.items():
        monkeypatch.setenv(name, value)
    bind = session_factory.kw.get("bind")
    yield CliRunner()
    # The command built its own app and engine; give the session back to the test app's.
    db_session.remove()
    session_factory.configure(bind=bind)


def run(cli: CliRunner, *args: str) -> str:
    result = cli.invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_clients_create_prints_json_with_the_secret_once(app: Flask, cli: CliRunner) -> None:
    output = run(
        cli, "clients", "create", "--name", "Kent Libraries",
        "--redirect-uri", "https://library.example/callback",
        "--redirect-uri", "https://library.example/callback2",
        "--grant", "authorization_code", "--grant", "refresh_token",
        "--scope", "openid profile email",
        "--post-logout-redirect-uri", "https://library.example/bye", "--json",
    )  # fmt: skip
    data = json.loads(output)
    assert data["client_name"] == "Kent Libraries"
    assert data["redirect_uris"] == [
        "https://library.example/callback",
        "https://library.example/callback2",
    ]
    assert data["grant_types"] == ["authorization_code", "refresh_token"]
    assert data["scope"] == "openid profile email"
    assert data["sector_identifier"] == "library.example"
    assert len(data["client_secret"]) >= 40
    with app.app_context():
        row = db_session.scalars(
            select(OAuthClient).where(OAuthClient.client_id == data["client_id"])
        ).one()
        assert row.client_secret_hash == secret_digest(data["client_secret"])
        assert data["client_secret"] not in row.client_secret_hash
    listed = json.loads(run(cli, "clients", "list", "--json"))
    assert [c["client_id"] for c in listed] == [data["client_id"]]
    assert "client_secret" not in listed[0]


def test_public_client_has_no_secret(cli: CliRunner) -> None:
    output = run(
        cli, "clients", "create", "--name", "Kent app", "--public",
        "--redirect-uri", "http://127.0.0.1:8765/callback", "--json",
    )  # fmt: skip
    data = json.loads(output)
    assert "client_secret" not in data
    assert data["token_endpoint_auth_method"] == "none"
    assert data["scope"] == "openid profile email"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--redirect-uri", "http://library.example/cb"], "must use https"),
        (["--redirect-uri", "https://a.example/cb", "--scope", "openid magic"], "Unknown scopes"),
        (["--grant", "client_credentials"], "Give --scope"),
        (["--grant", "client_credentials", "--scope", "openid"], "authorization_code grant"),
        (
            ["--redirect-uri", "https://a.example/cb", "--redirect-uri", "https://b.example/cb"],
            "need --sector",
        ),
    ],
)
def test_clients_create_refuses_bad_registrations(
    cli: CliRunner, args: list[str], message: str
) -> None:
    result = cli.invoke(main, ["clients", "create", "--name", "Bad", *args, "--json"])
    assert result.exit_code == 2
    assert message in result.output


def test_keys_rotate_and_list(cli: CliRunner) -> None:
    assert run(cli, "keys", "list", "--json")  # creates the first key
    first = json.loads(run(cli, "keys", "list", "--json"))
    assert [k["status"] for k in first] == ["signing"]
    assert "published now" in run(cli, "keys", "rotate")
    keys = json.loads(run(cli, "keys", "list", "--json"))
    assert [k["status"] for k in keys] == ["signing", "next"]  # publish lead 3600 here
    assert keys[0]["kid"] == first[0]["kid"]


def test_demo_creates_the_demo_service_once_and_prints_its_secret(
    app: Flask, cli: CliRunner
) -> None:
    first = run(cli, "demo")
    second = run(cli, "demo")
    assert f"client id {DEMO_CLIENT_ID}" in first
    secret = first.split("client secret ")[1].split()[0]
    assert f"client secret {secret}" in second
    with app.app_context():
        rows = db_session.scalars(select(OAuthClient).where(OAuthClient.name == DEMO_NAME)).all()
        assert len(rows) == 1
        assert rows[0].redirect_uris == [DEMO_REDIRECT_URI]
        assert rows[0].check_client_secret(secret)
