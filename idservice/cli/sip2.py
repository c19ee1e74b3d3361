"""``kentcard sip2``: the SIP2 bridge for library kiosks and the kiosks' registrations
(docs/sip2.md)."""

from __future__ import annotations

import json
import logging

import click
from flask import current_app

from idservice.cli.app import with_app
from idservice.models.sip2 import NAME_FORMATS, PIN_MODES
from idservice.sip2 import kiosks, server


@click.group("sip2", help="The SIP2 bridge for library self-service kiosks.")
def sip2_group() -> None:
    pass


@sip2_group.command("serve", help="Answer kiosks' SIP2 patron look-ups over TCP.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=6001, show_default=True, type=click.IntRange(0, 65535))
@click.option("--max-connections", default=256, show_default=True, type=click.IntRange(1))
@click.option(
    "--idle-timeout", default=600.0, show_default=True, type=click.FloatRange(1), help="Seconds."
)
@click.option(
    "--message-timeout",
    default=10.0,
    show_default=True,
    type=click.FloatRange(0.1),
    help="Seconds a message may take to arrive whole.",
)
@click.option("--max-message", default=2048, show_default=True, type=click.IntRange(64, 65536))
@click.option(
    "--db-connections",
    default=8,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Look-ups at once (and database connections held for them).",
)
@click.option(
    "--encoding",
    default="utf-8",
    show_default=True,
    type=click.Choice(["utf-8", "cp850", "latin-1", "ascii"]),
    help="How kiosks encode text (names in answers).",
)
@with_app
def sip2_serve(
    host: str,
    port: int,
    max_connections: int,
    idle_timeout: float,
    message_timeout: float,
    max_message: int,
    db_connections: int,
    encoding: str,
) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    options = server.Options(
        host=host,
        port=port,
        max_connections=max_connections,
        idle_timeout=idle_timeout,
        message_timeout=message_timeout,
        max_message=max_message,
        db_connections=db_connections,
        encoding=encoding,
    )
    click.echo(f"SIP2 bridge on {host}:{port} (stop with Ctrl-C)")
    server.serve(current_app._get_current_object(), options)  # type: ignore[attr-defined]


@sip2_group.group("kiosks", help="Registered kiosks and their SIP2 logins.")
def kiosks_group() -> None:
    pass


@kiosks_group.command("add", help="Register a kiosk; prints its SIP2 password once.")
@click.option("--name", required=True, help="What residents see, e.g. 'Maidstone Library kiosk 2'.")
@click.option("--login", required=True, help="Its SIP2 login user id (CN).")
@click.option("--location", default="", help="Where it stands (sent back as AN and AM).")
@click.option("--institution", "institution_id", default="", help="Institution id (AO).")
@click.option("--service", default="library", show_default=True, help="Membership service code.")
@click.option(
    "--name-format", type=click.Choice(NAME_FORMATS), default="initials", show_default=True
)
@click.option(
    "--pin",
    "pin_mode",
    type=click.Choice(PIN_MODES),
    default="none",
    show_default=True,
    help="card: the kiosk has a Kent Card reader and sends card + PIN proofs.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_app
def kiosks_add(as_json: bool, **values: str) -> None:
    try:
        view, password = kiosks.register_kiosk(**values)
    except kiosks.KioskError as exc:
        raise click.UsageError(str(exc)) from None
    if as_json:
        click.echo(json.dumps({**view.as_dict(), "password": password}, indent=2))
        return
    click.echo(f"Kiosk {view.name}: SIP2 login {view.login}, password {password}")
    click.echo("The password is not kept: give it to the kiosk's supplier now.")


@kiosks_group.command("list", help="Kiosks (never their passwords).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_app
def kiosks_list(as_json: bool) -> None:
    rows = [view.as_dict() for view in kiosks.list_kiosks()]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        state = "active" if row["active"] else "inactive"
        if row["locked_addresses"]:
            state += f", locked out at {row['locked_addresses']} address(es)"
        click.echo(
            f"{row['login']}  {row['name']}  [{state}]  pin: {row['pin_mode']}  "
            f"name: {row['name_format']}  last login: {row['last_login_at'] or '-'}"
        )


@kiosks_group.command("update", help="Change a kiosk, unlock it or give it a new password.")
@click.argument("login")
@click.option("--name", default=None)
@click.option("--location", default=None)
@click.option("--institution", "institution_id", default=None)
@click.option("--service", default=None)
@click.option("--name-format", type=click.Choice(NAME_FORMATS), default=None)
@click.option("--pin", "pin_mode", type=click.Choice(PIN_MODES), default=None)
@click.option("--active/--inactive", default=None)
@click.option("--unlock", is_flag=True, help="Clear failed logins and the lock.")
@click.option("--new-password", is_flag=True, help="Make a new password (printed once).")
@with_app
def kiosks_update(login: str, unlock: bool, new_password: bool, **changes: object) -> None:
    try:
        changed, password = kiosks.update_kiosk(
            login, unlock=unlock, new_password=new_password, **changes
        )
    except kiosks.KioskError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(f"Changed: {', '.join(changed)}" if changed else "Nothing was changed")
    if password is not None:
        click.echo(f"New SIP2 password for {login}: {password}")
