"""``kentcard serve``, ``kentcard db`` and ``kentcard demo``."""

from __future__ import annotations

import click
from flask import current_app

from idservice import create_app, migrate
from idservice.cli.app import with_app
from idservice.config import Settings, make_instance_folder
from idservice.services import demo_data

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
    make_instance_folder(settings.instance_path)
    migrate.upgrade(
        settings.database_url,
        secret_key=settings.secret_key,
        secret_key_fallbacks=settings.secret_key_fallbacks,
    )
    click.echo(f"Database at revision {migrate.current_head()}.")


@click.command(help="Load demo residents (password: kent-demo-password) and a demo service.")
@with_app
def demo() -> None:
    for email in demo_data.load_demo_residents(DEMO_PASSWORD):
        click.echo(f"Demo resident {email} (password {DEMO_PASSWORD})")
    demo_data.run_demo_hooks(current_app.extensions.get("kentcard_demo_hooks", []))
