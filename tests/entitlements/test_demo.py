"""``kentcard demo`` leaves a ledger that verifies, and running it twice adds nothing."""

from __future__ import annotations

import json

from click.testing import CliRunner
from sqlalchemy import Engine, func, select

from entitlements.ledger.store import EVENTS, TREE_HEADS, states
from idservice.cli import main
from tests.entitlements.ledger_helpers import sql


def run(cli: CliRunner, *args: str) -> tuple[int, str]:
    result = cli.invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def _count(engine: Engine, table: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def test_demo_grants_eligible_services_and_verifies(cli: CliRunner, engine: Engine) -> None:
    code, output = run(cli, "demo")
    assert code == 0, output
    held = {(s.resident, s.service) for s in states(engine) if s.status == "active"}
    by_service: dict[str, int] = {}
    for _, service in held:
        by_service[service] = by_service.get(service, 0) + 1
    assert by_service["bus-pass-older"] == 2  # Ada (1956) and Grace (1948), not Sam (2009)
    assert by_service["library"] == 3  # Sam is over 16: no consent needed
    assert "proof-of-age-18" in by_service and by_service["proof-of-age-18"] == 2
    code, output = run(cli, "ledger", "verify", "--json")
    assert code == 0, output
    report = json.loads(output)
    assert report["ok"] and report["size"] == len(held) and report["tree_heads_checked"] == 1


def test_demo_twice_adds_nothing(cli: CliRunner, engine: Engine) -> None:
    run(cli, "demo")
    events, heads = _count(engine, EVENTS), _count(engine, TREE_HEADS)
    assert events > 0 and heads == 1
    code, output = run(cli, "demo")
    assert code == 0, output
    assert "Demo ledger: 0 new grants" in output
    assert (_count(engine, EVENTS), _count(engine, TREE_HEADS)) == (events, heads)


def test_demo_ledger_catches_tampering(cli: CliRunner, engine: Engine) -> None:
    run(cli, "demo")
    sql(engine, "UPDATE ledger_events SET service = 'blue-badge' WHERE seq = 2")
    code, output = run(cli, "ledger", "verify")
    assert code == 1 and "first bad event: 2" in output
