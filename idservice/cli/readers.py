"""``kentcard readers``: the reader fleet (registering readers, seeing their state).

A reader on a bus or at a library desk is a registered client (client credentials,
``taps:write``) with a location, an operator (route, vehicle) and a mode. ``kentcard
reader ...`` (idservice/cli/card.py) is the station on the reader itself.
"""

from __future__ import annotations

import json

import click

from idservice.cli.app import with_app
from idservice.models.readers import READER_MODES


@click.group("readers", help="The reader fleet: card readers on buses and at library desks.")
def readers_group() -> None:
    pass


@readers_group.command(
    "register", help="Add a reader to the fleet; a new client's secret is shown only now."
)
@click.option("--name", default=None, help="A new client's name, e.g. 'Stagecoach bus 15623'.")
@click.option(
    "--client-id", default=None, help="Make an existing client (with taps:write) a reader."
)
@click.option("--mode", type=click.Choice(READER_MODES), required=True)
@click.option("--location", required=True, help="Where it is: a library, a depot, a bus.")
@click.option("--operator", default=None, help="Who runs it: the bus operator, the library.")
@click.option("--route", default=None, help="Transport: the route, where known.")
@click.option("--vehicle", default=None, help="Transport: the vehicle (fleet number).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_app
def readers_register(
    name: str | None,
    client_id: str | None,
    mode: str,
    location: str,
    operator: str | None,
    route: str | None,
    vehicle: str | None,
    as_json: bool,
) -> None:
    from idservice.cards import fleet
    from idservice.oauth.clients import RegistrationError

    if (name is None) == (client_id is None):
        raise click.UsageError("Give --name (a new client) or --client-id (an existing one).")
    try:
        registered = fleet.register_reader(
            mode=mode,
            location=location,
            operator=operator,
            route=route,
            vehicle=vehicle,
            name=name,
            client_id=client_id,
        )
    except RegistrationError as exc:
        raise click.UsageError(str(exc)) from None
    data = registered.as_dict()
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(f"Registered reader {data['name']} ({mode}) at {data['location']}")
    click.echo(f"  client id:     {data['client_id']}")
    if "client_secret" in data:
        click.echo(f"  client secret: {data['client_secret']}  (shown once; keep it safe)")


@readers_group.command("list", help="Every reader: last contact, snapshot, queued taps, clock.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_app
def readers_list(as_json: bool) -> None:
    from idservice.cards import fleet

    states = fleet.fleet()
    if as_json:
        click.echo(json.dumps([s.as_dict() for s in states], indent=2))
        return
    for state in states:
        contact = state.last_contact_at.isoformat() if state.last_contact_at else "never"
        drift = "-" if state.clock_drift_ms is None else f"{state.clock_drift_ms / 1000:+.1f} s"
        click.echo(
            f"{state.client_id}  {state.mode:<9} {state.location}  last contact {contact}  "
            f"snapshot {state.snapshot_version or '-'}  queued {state.queued_taps or 0}  "
            f"clock {drift}  flagged {state.taps_flagged}"
        )
