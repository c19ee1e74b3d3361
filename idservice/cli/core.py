"""``kentcard serve``, ``kentcard db`` and ``kentcard demo``."""

from __future__ import annotations

from datetime import date

import click
from flask import current_app

from idservice import create_app, migrate
from idservice.cli.app import with_app
from idservice.config import Settings
from idservice.db import db_session

DEMO_PASSWORD = "kent-demo-password"  # noqa: S105 - printed for the demo; demo data only


@click.command(help="Serve the app (single process; use gunicorn in production).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
def serve(host: str, port: int) -> None:
    app = create_app()
    click.echo(f"Serving the Kent account service on http://{host}:{port}/")
    app.run(host=host, port=port, debug=False, use_reloader=False, threaded=True)


@click.group("db", help="Database schema.")
def db_group() -> None:
    pass


@db_group.command("upgrade", help="Migrate the database to the newest schema.")
def db_upgrade() -> None:
    settings = Settings.from_env()
    settings.instance_path.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.database_url)
    click.echo(f"Database at revision {migrate.current_head()}.")


DEMO_RESIDENTS = [
    {
        "email": "ada.lovelace@example.com",
        "given_name": "Ada",
        "family_name": "Lovelace",
        "date_of_birth": date(1956, 12, 10),
        "address_line_1": "Sessions House",
        "address_line_2": "County Road",
        "town": "Maidstone",
        "postcode": "ME14 1XQ",
        "phone": "03000414141",
    },
    {
        "email": "sam.patel@example.com",
        "given_name": "Sam",
        "family_name": "Patel",
        "date_of_birth": date(2009, 3, 21),
        "address_line_1": "12 High Street",
        "town": "Ashford",
        "postcode": "TN23 1AA",
    },
    {
        "email": "grace.hopper@example.com",
        "given_name": "Grace",
        "family_name": "Hopper",
        "date_of_birth": date(1948, 6, 2),
        "address_line_1": "3 Marine Parade",
        "town": "Folkestone",
        "postcode": "CT20 1PX",
    },
]


@click.command(help="Load demo residents (password: kent-demo-password) and a demo service.")
@with_app
def demo() -> None:
    from idservice.models.base import utcnow
    from idservice.services.residents import create_resident, dao_get_resident_by_email

    for data in DEMO_RESIDENTS:
        if dao_get_resident_by_email(str(data["email"])) is None:
            resident = create_resident(
                password=DEMO_PASSWORD,
                actor_type="system",
                actor_id="demo",
                channel="system",
                **data,  # type: ignore[arg-type]
            )
            resident.email_verified_at = utcnow()
            click.echo(f"Demo resident {data['email']} (password {DEMO_PASSWORD})")
    db_session.commit()
    hook = current_app.extensions.get("kentcard_demo_hooks", [])
    for extra in hook:
        extra()
    db_session.commit()
