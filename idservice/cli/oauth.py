"""``kentcard clients`` and ``kentcard keys``: registering services, rotating keys."""

from __future__ import annotations

import json

import click
from flask import current_app

from idservice.cli.app import with_app
from idservice.oauth import clients as client_service
from idservice.oauth import scopes
from idservice.oauth.dao import dao_list_clients
from idservice.oauth.keys import KeyStore
from idservice.partners import registry as partners


def register(main: click.Group) -> None:
    main.add_command(clients_group)
    main.add_command(keys_group)


@click.group("clients", help="OAuth clients: relying parties and partner services.")
def clients_group() -> None:
    pass


@clients_group.command("create", help="Register a client; its secret is shown only now.")
@click.option("--name", required=True, help="Shown to residents on the consent page.")
@click.option("--redirect-uri", "redirect_uris", multiple=True, help="Exact; repeatable.")
@click.option(
    "--grant",
    "grants",
    multiple=True,
    type=click.Choice(client_service.GRANT_TYPES),
    help="Repeatable; default authorization_code.",
)
@click.option("--scope", default=None, help='Space-separated, e.g. "openid profile email".')
@click.option(
    "--check",
    "checks",
    multiple=True,
    metavar="SERVICE",
    help="A catalogue service the partner may check (adds entitlements:SERVICE:check and, "
    "with no --grant, the client_credentials grant); repeatable.",
)
@click.option("--public", is_flag=True, help="No secret (apps that cannot keep one): PKCE S256.")
@click.option("--post-logout-redirect-uri", "logout_uris", multiple=True, help="Repeatable.")
@click.option("--sector", default=None, help="Host name for pairwise subject identifiers.")
@click.option("--partner", is_flag=True, help="A partner service (client_credentials).")
@click.option("--webhook-url", default=None, help="Partner: where events are pushed (https).")
@click.option("--contact-email", default=None, help="Partner: who to contact.")
@click.option("--service", "services", multiple=True, help="Partner: a service code; repeatable.")
@click.option("--event", "events", multiple=True, help="Partner: an event type (default all).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_app
def clients_create(
    name: str,
    redirect_uris: tuple[str, ...],
    grants: tuple[str, ...],
    scope: str | None,
    checks: tuple[str, ...],
    public: bool,
    logout_uris: tuple[str, ...],
    sector: str | None,
    partner: bool,
    webhook_url: str | None,
    contact_email: str | None,
    services: tuple[str, ...],
    events: tuple[str, ...],
    as_json: bool,
) -> None:
    if partner:
        if not contact_email:
            raise click.UsageError("A partner needs --contact-email.")
        grants = grants or ("client_credentials",)
        if scope is None and not checks:
            # Least privilege: a partner may check the services it subscribes to, no more
            # (a partner told of events only keeps the old scope, which grants no checks).
            checks = tuple(s for s in services if scopes.check_scope(s) in scopes.SCOPES)
            scope = None if checks else "entitlements:read"
    elif webhook_url or contact_email or services or events:
        raise click.UsageError("--webhook-url, --contact-email, --service, --event need --partner.")
    if checks:
        scope = " ".join([*scopes.parse(scope), *(scopes.check_scope(c) for c in checks)])
        grants = grants or ("client_credentials",)
    try:
        registered = partners.register(
            {
                "name": name,
                "redirect_uris": redirect_uris,
                "grant_types": grants,
                "scope": scope,
                "public": public,
                "post_logout_redirect_uris": logout_uris,
                "sector": sector,
            },
            {
                "display_name": name,
                "contact_email": contact_email or "",
                "webhook_url": webhook_url,
                "services": services,
                "events": events or None,
            }
            if partner
            else None,
        )
    except (client_service.RegistrationError, partners.PartnerError) as exc:
        raise click.UsageError(str(exc)) from None
    data = registered.as_dict()
    if partner:
        data["partner"] = partners.partner_view(partners.get_partner(data["client_id"])).as_dict()
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(f"Registered {data['client_name']}")
    click.echo(f"  client id:     {data['client_id']}")
    if "client_secret" in data:
        click.echo(f"  client secret: {data['client_secret']}  (shown once; keep it safe)")
    click.echo(f"  grants:        {' '.join(data['grant_types'])}")
    click.echo(f"  scope:         {data['scope']}")
    click.echo(f"  sector:        {data['sector_identifier']}")
    if partner:
        click.echo(f"  webhook:       {data['partner']['webhook_url'] or '(none)'}")
        click.echo(f"  events:        {' '.join(data['partner']['events'])}")


@clients_group.command("list", help="Registered clients (never their secrets).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_app
def clients_list(as_json: bool) -> None:
    rows = [client_service.client_as_dict(c) for c in dao_list_clients()]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        click.echo(f"{row['client_id']}  {row['client_name']}  [{' '.join(row['grant_types'])}]")


@clients_group.command("scopes", help="Scopes a client can be registered for.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def clients_scopes(as_json: bool) -> None:
    rows = [
        {"scope": s.name, "for": "residents" if s.resident else "services", "gives": s.description}
        for s in scopes.SCOPES.values()
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        click.echo(f"{row['scope']:<48} {row['for']:<9} {row['gives']}")


@click.group("keys", help="Token signing keys.")
def keys_group() -> None:
    pass


def _store() -> KeyStore:
    return current_app.extensions["kentcard_oauth_keys"]  # type: ignore[no-any-return]


@keys_group.command("rotate", help="Publish a new key now; it signs after the publish lead.")
@with_app
def keys_rotate() -> None:
    record = _store().rotate()
    click.echo(f"New key {record.kid}: published now, signs from {record.signs_from.isoformat()}")


@keys_group.command("list", help="Keys and what each is doing now.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_app
def keys_list(as_json: bool) -> None:
    statuses = _store().statuses()
    rows = [
        {
            "kid": s.kid,
            "status": s.status,
            "created_at": s.created_at.isoformat(),
            "signs_from": s.signs_from.isoformat(),
            "published_until": s.published_until.isoformat() if s.published_until else None,
        }
        for s in statuses
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        until = f", published until {row['published_until']}" if row["published_until"] else ""
        click.echo(f"{row['kid']}  {row['status']:<8}  signs from {row['signs_from']}{until}")
