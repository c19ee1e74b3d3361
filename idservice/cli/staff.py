"""``kentcard staff``: staff accounts, for administrators at the server."""

from __future__ import annotations

import json
import secrets
import sys

import click

from idservice import validation
from idservice.cli.app import with_app
from idservice.staff.permissions import Role


@click.group("staff", help="Staff accounts for the staff console.")
def staff_group() -> None:
    pass


@staff_group.command("create", help="Create a staff account; the app is set up at first sign-in.")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from standard input; otherwise one is made up and printed once.",
)
@click.option("--json", "as_json", is_flag=True)
@with_app
def create(email: str, name: str, role: str, password_stdin: bool, as_json: bool) -> None:
    from idservice.staff.staff_accounts import StaffExists, create_staff

    generated = not password_stdin
    password = secrets.token_urlsafe(15) if generated else sys.stdin.readline().rstrip("\n")
    try:
        staff = create_staff(email=email, name=name, role=Role(role), password=password)
    except StaffExists:
        raise click.ClickException(
            "A staff account with that email address already exists."
        ) from None
    except validation.ValidationError as exc:
        raise click.ClickException(str(exc)) from None
    out = {"staff_id": staff.id, "email": staff.email, "name": staff.name, "role": staff.role}
    if generated:
        out["password"] = password
    if as_json:
        click.echo(json.dumps(out))
        return
    click.echo(f"Created {staff.role} {staff.email} ({staff.id})")
    if generated:
        click.echo(f"Password (shown once): {password}")
    click.echo("They set up an authenticator app the first time they sign in at /staff/sign-in.")


@staff_group.command(
    "resume-sign-in",
    help="Let a staff account sign in again after its sign-in paused (many failed attempts).",
)
@click.option("--email", required=True)
@with_app
def resume_sign_in(email: str) -> None:
    from idservice.staff.auth import resume_sign_in as resume

    staff = resume(email)
    if staff is None:
        raise click.ClickException("There is no staff account with that email address.")
    click.echo(f"Sign-in resumed for {staff.email} ({staff.id})")
