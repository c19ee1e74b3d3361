"""``kentcard clients create --check SERVICE`` registers a partner for least-privilege checks."""

from __future__ import annotations

import json

from click.testing import CliRunner
from flask.testing import FlaskClient

from idservice.cli import main
from tests.oauth.conftest import RP
from tests.oauth.test_cli import cli, run
from tests.partner_api.conftest import UNKNOWN_CARD, check_card, service_token

__all__ = ["cli"]


def test_a_partner_registered_for_library_checks_can_check_only_libraries(
    cli: CliRunner, client: FlaskClient
) -> None:
    out = run(cli, "clients", "create", "--name", "Kent Libraries", "--check", "library", "--json")
    data = json.loads(out)
    assert data["scope"] == "entitlements:library:check"
    assert data["grant_types"] == ["client_credentials"]
    rp = RP(data["client_id"], data["client_secret"], "")
    headers = service_token(client, rp, "entitlements:library:check")
    assert check_card(client, headers, "library", UNKNOWN_CARD).status_code == 200
    assert check_card(client, headers, "bus-pass-older", UNKNOWN_CARD).status_code == 403


def test_an_unknown_service_is_refused(cli: CliRunner) -> None:
    result = cli.invoke(main, ["clients", "create", "--name", "X", "--check", "swimming"])
    assert result.exit_code == 2
    assert "Unknown scopes: entitlements:swimming:check" in result.output


def test_scopes_are_listed(cli: CliRunner) -> None:
    rows = json.loads(run(cli, "clients", "scopes", "--json"))
    by_name = {row["scope"]: row for row in rows}
    assert by_name["entitlements:library:check"]["for"] == "services"
    assert by_name["entitlements"]["for"] == "residents"
