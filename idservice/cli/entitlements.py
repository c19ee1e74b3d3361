"""``kentcard services``, ``kentcard eligibility`` and ``kentcard entitlements``.

The first two need no database: staff and scripts can check "could this person get a bus
pass?" without creating a record. ``entitlements due`` reads residents and the ledger's
projection to list who can be offered a service.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import click

from entitlements.catalogue import Catalogue, CatalogueError, load_catalogue
from entitlements.due import judged_from_record, record_services
from entitlements.engine import decide
from entitlements.facts import FactSet, VerificationLevel
from entitlements.gazetteer import Gazetteer, built_in_gazetteer, load_ons_postcode_directory
from entitlements.parsing import FactSyntaxError, parse_date, parse_fact
from entitlements.results import Outcome
from idservice.cli.app import with_app

LEVELS = [level.label for level in VerificationLevel]


def _catalogue() -> Catalogue:
    try:
        return load_catalogue()
    except CatalogueError as exc:
        raise click.ClickException(f"The service catalogue is not valid: {exc}") from None


def _gazetteer(postcode_directory: Path | None) -> Gazetteer:
    if postcode_directory is None:
        return built_in_gazetteer()
    try:
        return load_ons_postcode_directory(postcode_directory)
    except (ValueError, OSError) as exc:
        raise click.BadParameter(str(exc), param_hint="--postcode-directory") from None


@click.group("services", help="The service catalogue.")
def services_group() -> None:
    pass


@services_group.command("list", help="List the services and their rules.")
@click.option("--json", "as_json", is_flag=True)
def list_services(as_json: bool) -> None:
    catalogue = _catalogue()
    if as_json:
        click.echo(json.dumps([s.as_dict() for s in catalogue], indent=2))
        return
    for service in catalogue:
        card = "on the card" if service.on_card else "not on the card"
        click.echo(f"{service.code}: {service.name} ({card}; evidence {service.evidence.label})")
        click.echo(f"    {service.rule}")


@click.group("eligibility", help="Check eligibility without creating a record.")
def eligibility_group() -> None:
    pass


@eligibility_group.command("check", help="Check one person's eligibility for one service.")
@click.option("--service", "code", required=True, help="Service code (kentcard services list).")
@click.option("--dob", default=None, help="Date of birth, YYYY-MM-DD.")
@click.option("--postcode", default=None, help='Home postcode, like "CT9 1AA".')
@click.option("--fact", "fact_texts", multiple=True, help="Another fact, NAME=VALUE.")
@click.option("--on", "on_text", default=None, help="Check on this date (default today).")
@click.option(
    "--level",
    type=click.Choice(LEVELS),
    default="declared",
    show_default=True,
    help="How well the facts given were checked.",
)
@click.option(
    "--postcode-directory",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="ONS Postcode Directory CSV (default: the small built-in table).",
)
@click.option("--json", "as_json", is_flag=True)
def check(
    code: str,
    dob: str | None,
    postcode: str | None,
    fact_texts: tuple[str, ...],
    on_text: str | None,
    level: str,
    postcode_directory: Path | None,
    as_json: bool,
) -> None:
    catalogue = _catalogue()
    try:
        service = catalogue.get(code)
    except KeyError:
        known = ", ".join(catalogue.codes)
        raise click.BadParameter(
            f"unknown service {code!r}; use one of {known}", param_hint="--service"
        ) from None
    try:
        on = parse_date(on_text) if on_text else date.today()
    except FactSyntaxError as exc:
        raise click.BadParameter(str(exc), param_hint="--on") from None
    verification = VerificationLevel.parse(level)
    given = [("--dob", f"date_of_birth={dob}")] if dob else []
    given += [("--postcode", f"address={postcode}")] if postcode else []
    given += [("--fact", text) for text in fact_texts]
    facts = []
    for option, text in given:
        try:
            facts.append(parse_fact(text, on, verification))
        except FactSyntaxError as exc:
            raise click.BadParameter(str(exc), param_hint=option) from None
    gazetteer = _gazetteer(postcode_directory)
    decision = decide(service, FactSet.of(facts), on, gazetteer)
    if as_json:
        click.echo(json.dumps({"name": service.name, **decision.as_dict()}, indent=2))
        return
    click.echo(f"{service.name}: {decision.outcome.value} on {on.isoformat()}")
    needed = {need.why for need in decision.needs}
    for reason in decision.reasons:
        if reason not in needed:
            click.echo(f"  - {reason}")
    for need in decision.needs:
        click.echo(f"  needed: {need.why}")
    if decision.outcome is Outcome.NOT_ELIGIBLE and decision.valid_from:
        click.echo(f"  eligible from {decision.valid_from.isoformat()}")


@click.group("entitlements", help="Residents' entitlements: offers and reports.")
def entitlements_group() -> None:
    pass


@entitlements_group.command(
    "due", help="Residents who are eligible by a date and do not hold the service yet."
)
@click.option("--on", "on_text", required=True, help="Eligible on or before this date.")
@click.option(
    "--service",
    "code",
    default=None,
    help="Service code (default: every service the resident record alone can decide).",
)
@click.option(
    "--postcode-directory",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="ONS Postcode Directory CSV (default: the small built-in table).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per resident and line.")
def due(code: str | None, on_text: str, postcode_directory: Path | None, as_json: bool) -> None:
    from idservice.config import Settings
    from idservice.db import make_engine
    from idservice.services.entitlements_due import due_residents

    catalogue = _catalogue()
    try:
        on = parse_date(on_text)
    except FactSyntaxError as exc:
        raise click.BadParameter(str(exc), param_hint="--on") from None
    decidable = record_services(catalogue)
    if code is None:
        services = decidable
    elif code not in catalogue.codes:
        known = ", ".join(catalogue.codes)
        raise click.BadParameter(
            f"unknown service {code!r}; use one of {known}", param_hint="--service"
        )
    elif not judged_from_record(catalogue.get(code)):
        usable = ", ".join(s.code for s in decidable)
        raise click.BadParameter(
            f"{code!r} needs facts a resident record does not hold; use one of {usable}",
            param_hint="--service",
        )
    else:
        services = [catalogue.get(code)]
    gazetteer = _gazetteer(postcode_directory)
    engine = make_engine(Settings.from_env().database_url)
    count = 0
    try:
        for resident in due_residents(engine, services, on, gazetteer):
            count += 1
            if as_json:
                click.echo(json.dumps(resident.as_dict()))
                continue
            evidence = (
                f"  (proof needed: {', '.join(resident.evidence_needed)})"
                if resident.evidence_needed
                else ""
            )
            click.echo(
                f"{resident.resident}  {resident.service}  "
                f"eligible from {resident.eligible_from.isoformat()}{evidence}"
            )
    finally:
        engine.dispose()
    if not as_json:
        click.echo(f"{count} due on or before {on.isoformat()}.", err=True)


_SWEEP_WORDS = {
    "expired": ("expired", "would expire"),
    "paused": ("paused until details are confirmed", "would pause"),
    "renewal_invitations": ("renewal invitations queued", "renewal invitations to queue"),
    "offered": ("offered", "would offer"),
    "ended": ("ended (no longer eligible)", "would end (no longer eligible)"),
    "ending": ("ending after a grace period", "would end after a grace period"),
}


@entitlements_group.command(
    "sweep",
    help=(
        "The daily sweep: expire what ended, invite renewals, offer what begins (State "
        "Pension age, ...). Safe to run again: a second run on the same day changes nothing."
    ),
)
@click.option("--on", "on_text", default=None, help="Sweep for this day (default today).")
@click.option("--dry-run", is_flag=True, help="Count what it would do; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@with_app
def sweep(on_text: str | None, dry_run: bool, as_json: bool) -> None:
    from idservice.services.sweep import SweepBusy
    from idservice.services.sweep import sweep as run_sweep

    try:
        on = parse_date(on_text) if on_text else date.today()
    except FactSyntaxError as exc:
        raise click.BadParameter(str(exc), param_hint="--on") from None
    try:
        report = run_sweep(on, dry_run=dry_run)
    except SweepBusy as exc:
        raise click.ClickException(f"{exc}: try again when it has finished") from None
    summary = report.as_dict()
    if as_json:
        click.echo(json.dumps(summary, sort_keys=True))
        return
    title = "Dry run: nothing written. " if dry_run else ""
    click.echo(
        f"{title}Sweep for {summary['on']} (looked back to {summary['looked_back_to']}; "
        f"{summary['residents_decided']} resident(s) decided again for an age rule)."
    )
    for action, services in summary["actions"].items():
        done, would = _SWEEP_WORDS[action]
        total = summary["totals"][action]
        by_service = ", ".join(f"{code} {n}" for code, n in services.items())
        click.echo(
            f"  {would if dry_run else done}: {total}" + (f" ({by_service})" if total else "")
        )
