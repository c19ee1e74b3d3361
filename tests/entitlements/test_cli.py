"""``kentcard services list`` and ``kentcard eligibility check``, end to end, no database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from idservice.cli import main


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def check_json(*args: str) -> dict[str, Any]:
    code, output = run("eligibility", "check", *args, "--json")
    assert code == 0, output
    parsed: dict[str, Any] = json.loads(output)
    return parsed


def test_services_list_json_has_every_code_and_rule() -> None:
    code, output = run("services", "list", "--json")
    assert code == 0
    services = json.loads(output)
    assert "bus-pass-older" in [s["code"] for s in services]
    assert all(s["rule"] and isinstance(s["on_card"], bool) for s in services)


def test_services_list_in_words() -> None:
    code, output = run("services", "list")
    assert code == 0 and "Kent Travel Saver" in output


def test_bus_pass_check_on_the_day() -> None:
    common = ("--service", "bus-pass-older", "--dob", "1960-07-31", "--postcode", "CT9 1AA")
    before = check_json(*common, "--on", "2026-11-29", "--level", "checked")
    assert before["outcome"] == "not eligible"
    assert before["valid_from"] == "2026-11-30"
    on = check_json(*common, "--on", "2026-11-30", "--level", "checked")
    assert on["eligible"] is True
    assert on["valid_until"] == "2031-11-29"


def test_self_declared_facts_need_evidence_for_a_bus_pass() -> None:
    answer = check_json(
        "--service", "bus-pass-older", "--dob", "1950-01-01", "--postcode", "ct9 1aa"
    )
    assert answer["outcome"] == "needs facts"
    assert {n["fact"] for n in answer["needs"]} == {"date_of_birth", "address"}
    assert all(n["kind"] == "more evidence" for n in answer["needs"])


def test_a_manchester_postcode_is_not_in_kent() -> None:
    answer = check_json(
        "--service", "bus-pass-older", "--dob", "1950-01-01", "--postcode", "M1 1AE"
    )
    assert answer["outcome"] == "not eligible" and answer["needs"] == []
    assert any("not in Kent: it is in North West England" in r for r in answer["reasons"])
    code, output = run(
        "eligibility",
        "check",
        "--service",
        "bus-pass-older",
        "--dob",
        "1950-01-01",
        "--postcode",
        "M1 1AE",
    )
    assert code == 0 and "Apply to the council for that address instead." in output


def test_facts_by_name() -> None:
    answer = check_json(
        "--service", "16-plus-travel-saver", "--dob", "2010-08-31", "--postcode", "TN23 1AA",
        "--fact", "full_time_education=yes", "--on", "2026-11-23", "--level", "checked",
    )  # fmt: skip
    assert answer["eligible"] and answer["valid_until"] == "2027-08-31"
    answer = check_json(
        "--service", "bus-pass-companion", "--postcode", "CT9 1AA", "--level", "checked",
        "--fact", "disability=walking:PIP letter", "--fact", "needs_companion=yes",
    )  # fmt: skip
    assert answer["eligible"]


def test_postcode_directory_option(tmp_path: Path) -> None:
    directory = tmp_path / "onspd.csv"
    directory.write_text("pcds,doterm,oslaua\nME1 3AA,,E07000115\nME1 1AA,,E06000035\n")
    args = ("--service", "library", "--dob", "1990-01-01", "--postcode", "ME1 3AA")
    assert check_json(*args, "--postcode-directory", str(directory))["eligible"]
    assert check_json(*args)["outcome"] == "needs facts"  # built-in table: district only


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--service", "bus-pass"), "unknown service 'bus-pass'"),
        (("--service", "library", "--dob", "1990-02-30"), "not a real date"),
        (("--service", "library", "--dob", "2990-01-01"), "not in the future"),
        (("--service", "library", "--on", "tomorrow"), "not a real date"),
        (("--service", "library", "--postcode", "KENT"), "not a UK postcode"),
        (("--service", "library", "--fact", "colour=red"), "unknown fact 'colour'"),
        (("--service", "library", "--fact", "works_in_kent"), "must be NAME=VALUE"),
        (("--service", "library", "--fact", "works_in_kent=maybe"), "yes or no"),
        (("--service", "library", "--fact", "disability=z"), "category a to g"),
        (("--service", "library", "--fact", "blue_badge_decision=approved:soon"), "real date"),
        (("--service", "library", "--level", "sure"), "Invalid value for '--level'"),
    ],
)
def test_bad_input_gets_a_clear_error(args: tuple[str, ...], message: str) -> None:
    code, output = run("eligibility", "check", *args, "--json")
    assert code == 2
    assert message in output
