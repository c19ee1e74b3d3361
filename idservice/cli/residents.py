"""``kentcard residents``: for scripts and staff."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import click

from idservice import validation
from idservice.cli.app import with_app
from idservice.db import db_session


@click.group("residents", help="Resident records.")
def residents_group() -> None:
    pass


def _checked(value: Any, check: Callable[[Any], Any], option: str) -> Any:
    try:
        return check(value)
    except validation.ValidationError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from None


@residents_group.command("create", help="Create a resident record.")
@click.option("--given-name", required=True)
@click.option("--family-name", required=True)
@click.option("--dob", "date_of_birth", required=True, help="Date of birth, YYYY-MM-DD.")
@click.option("--address", "address_line_1", required=True, help="First line of the address.")
@click.option("--town", required=True)
@click.option("--postcode", required=True)
@click.option("--email", default=None)
@click.option("--phone", default=None)
@click.option("--password-stdin", is_flag=True, help="Read a password from standard input.")
@click.option(
    "--channel",
    type=click.Choice(["face-to-face", "phone", "staff-assisted", "system"]),
    default="staff-assisted",
    show_default=True,
)
@click.option("--actor", default="cli", show_default=True, help="Who is creating the record.")
@click.option("--json", "as_json", is_flag=True)
@with_app
def create(
    given_name: str,
    family_name: str,
    date_of_birth: str,
    address_line_1: str,
    town: str,
    postcode: str,
    email: str | None,
    phone: str | None,
    password_stdin: bool,
    channel: str,
    actor: str,
    as_json: bool,
) -> None:
    from datetime import date

    from idservice.services.residents import create_resident, dao_get_resident_by_email

    for label, text in (("--given-name", given_name), ("--family-name", family_name)):
        if not text.strip() or len(text) > 100:
            raise click.BadParameter("must be 1 to 100 characters", param_hint=label)
    try:
        dob = date.fromisoformat(date_of_birth)
    except ValueError:
        raise click.BadParameter("must be a real date, YYYY-MM-DD", param_hint="--dob") from None
    _checked(dob, validation.check_date_of_birth, "--dob")
    postcode_n = str(_checked(postcode, validation.normalise_postcode, "--postcode"))
    email_n = str(_checked(email, validation.normalise_email, "--email")) if email else None
    phone_n = str(_checked(phone, validation.normalise_phone, "--phone")) if phone else None
    password: str | None = None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
        _checked(password, validation.check_password, "--password-stdin")
    if email_n and dao_get_resident_by_email(email_n) is not None:
        raise click.ClickException("A resident with that email address already exists.")
    resident = create_resident(
        given_name=given_name.strip(),
        family_name=family_name.strip(),
        date_of_birth=dob,
        address_line_1=address_line_1.strip(),
        town=town.strip(),
        postcode=postcode_n,
        email=email_n,
        phone=phone_n,
        password=password,
        actor_type="staff",
        actor_id=actor,
        channel=channel,
    )
    db_session.commit()
    if as_json:
        click.echo(json.dumps({"resident_id": resident.id}))
    else:
        click.echo(f"Created resident {resident.id}")
