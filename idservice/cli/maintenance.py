"""``kentcard maintenance``: housekeeping for operators (run daily)."""

from __future__ import annotations

import json
from datetime import timedelta

import click
from flask import current_app

from idservice.cli.app import with_app


@click.group("maintenance", help="Housekeeping for operators.")
def maintenance_group() -> None:
    pass


@maintenance_group.command(
    "prune",
    help=(
        "Remove expired sign-in failures, tokens, authorization codes and card sign-in "
        "challenges once nothing depends on them. Safe to run at any time; run it daily."
    ),
)
@click.option(
    "--grace-hours",
    default=24,
    show_default=True,
    type=click.IntRange(0, 24 * 365),
    help="Keep what expired less than this long ago.",
)
@click.option("--dry-run", is_flag=True, help="Count what would go; remove nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@with_app
def prune(grace_hours: int, dry_run: bool, as_json: bool) -> None:
    from idservice.models.base import utcnow
    from idservice.services.maintenance import prune as run_prune

    settings = current_app.config["KENTCARD"]
    report = run_prune(settings, utcnow(), grace=timedelta(hours=grace_hours), dry_run=dry_run)
    if as_json:
        click.echo(json.dumps({**report.as_dict(), "dry_run": dry_run}, sort_keys=True))
        return
    verb = "Would remove" if dry_run else "Removed"
    click.echo(
        f"{verb} {report.sign_in_failures} sign-in failure(s), {report.tokens} token(s), "
        f"{report.authorization_codes} authorization code(s) and {report.card_sign_ins} "
        "card sign-in challenge(s)."
    )


@maintenance_group.command(
    "reseal",
    help=(
        "Seal authenticator app secrets again under the current SECRET_KEY (after a change, "
        "with the old key in KENTCARD_SECRET_KEY_FALLBACKS); then the old key can go."
    ),
)
@with_app
def reseal() -> None:
    from idservice.sealed import SealError
    from idservice.services.sealed_secrets import reseal as run_reseal

    try:
        report = run_reseal()
    except SealError as exc:
        raise click.ClickException(
            f"{exc}: list the key it was sealed with in KENTCARD_SECRET_KEY_FALLBACKS"
        ) from None
    click.echo(
        f"Sealed {report.resealed} secret(s) again under the current key; "
        f"{report.current} already were."
    )
