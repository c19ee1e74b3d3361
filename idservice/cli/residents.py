"""``kentcard residents``: for scripts and staff."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import click

from idservice import validation
from idservice.cli.app import with_app


@click.group("residents", help="Resident records.")
def residents_group() -> None:
    pass


def _checked(value: Any, check: Callable[[Any], Any], option: str) -> Any:
    """A value through a shared rule; a refusal is a usage error (exit status 2)."""
    try:
        return check(value)
    except validation.ValidationError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from None


@residents_group.command(
    "create",
    help="Create a resident record. Every value is checked with the same rules and messages "
    "as the registration page. Exit status 2 when a value is refused (the message names "
    "the option), 1 when a resident already has the email address, 3 when an existing "
    "record may be the same person: the likely matches are shown and nothing is created "
    "unless --not-a-duplicate says why this is a different person.",
)
@click.option("--given-name", required=True)
@click.option("--family-name", required=True)
@click.option("--dob", "date_of_birth", required=True, help="Date of birth, YYYY-MM-DD.")
@click.option("--address", "address_line_1", required=True, help="First line of the address.")
@click.option("--address-line-2", default=None, help="Second line of the address.")
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
@click.option(
    "--not-a-duplicate",
    "not_a_duplicate",
    metavar="REASON",
    default=None,
    help="Create the record although an existing one may be the same person, saying how you "
    "know it is a different person (for example: twin brother, passports checked). Both "
    "residents can see this reason.",
)
@click.option("--json", "as_json", is_flag=True)
@with_app
def create(
    given_name: str,
    family_name: str,
    date_of_birth: str,
    address_line_1: str,
    address_line_2: str | None,
    town: str,
    postcode: str,
    email: str | None,
    phone: str | None,
    password_stdin: bool,
    channel: str,
    actor: str,
    not_a_duplicate: str | None,
    as_json: bool,
) -> None:
    from idservice.services import duplicates
    from idservice.services.residents import dao_get_resident_by_email

    v = validation
    values = {
        "given_name": _checked(given_name, v.GIVEN_NAME.clean_required, "--given-name"),
        "family_name": _checked(family_name, v.FAMILY_NAME.clean_required, "--family-name"),
        "date_of_birth": _checked(date_of_birth, v.DATE_OF_BIRTH.from_iso_required, "--dob"),
        "address_line_1": _checked(address_line_1, v.ADDRESS_LINE_1.clean_required, "--address"),
        "address_line_2": _checked(
            address_line_2,
            lambda text: v.ADDRESS_LINE_2.clean(text, required=False),
            "--address-line-2",
        ),
        "town": _checked(town, v.TOWN.clean_required, "--town"),
        "postcode": _checked(postcode, v.POSTCODE.clean_required, "--postcode"),
        "email": _checked(email, lambda text: v.EMAIL.clean(text, required=False), "--email"),
        "phone": _checked(phone, lambda text: v.PHONE.clean(text, required=False), "--phone"),
    }
    password: str | None = None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
        _checked(password, validation.check_password, "--password-stdin")
    reason = (
        _checked(not_a_duplicate, validation.DIFFERENT_PERSON.clean_required, "--not-a-duplicate")
        if not_a_duplicate is not None
        else None
    )
    if values["email"] and dao_get_resident_by_email(values["email"]) is not None:
        raise click.ClickException("A resident with that email address already exists.")
    person = duplicates.person_from(values)
    checked = duplicates.create_unless_duplicate(
        values,
        password=password,
        operator=duplicates.Operator("staff", actor, channel),
        not_a_duplicate=reason,
        screen="kentcard residents create",
    )
    found, resident = checked.found, checked.resident
    if resident is None:
        _refuse_duplicate(person, found, as_json)
        return
    if as_json:
        click.echo(json.dumps({"resident_id": resident.id, "not_duplicates": _listed(found)}))
    else:
        click.echo(f"Created resident {resident.id}")
        if found:
            click.echo("Recorded as a different person from:")
            _print_matches(person, found)


def _listed(found: list[Any]) -> list[dict[str, Any]]:
    return [
        {
            "reference": f.resident_id,
            "name": f.person.full_name,
            "date_of_birth": f.date_of_birth.isoformat(),
            "postcode": f.person.postcode,
            "score": f.match.score,
            "match": f.match.reason,
            "place": f.match.place,
        }
        for f in found
    ]


def _print_matches(person: Any, found: list[Any], err: bool = False) -> None:
    for f in found:
        click.echo(
            f"  {f.resident_id}  {f.person.full_name}, born {f.date_of_birth.isoformat()}, "
            f"{f.person.postcode}: {f.words(person)}",
            err=err,
        )


def _refuse_duplicate(person: Any, found: list[Any], as_json: bool) -> None:
    """Nothing created: show the likely matches and how to go on; exit status 3."""
    if as_json:
        click.echo(
            json.dumps({"refused": "possible-duplicate", "possible_duplicates": _listed(found)})
        )
    else:
        click.echo("Not created: an existing record may be the same person.", err=True)
        _print_matches(person, found, err=True)
        click.echo(
            "Look at the record first (one record per person). If this is a different "
            'person, run the command again with --not-a-duplicate "how you know".',
            err=True,
        )
    sys.exit(3)
