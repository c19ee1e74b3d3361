"""``kentcard mail``: sending the outbox by SMTP."""

from __future__ import annotations

import click
from flask import current_app

from idservice.cli.app import with_app


@click.group("mail", help="Outgoing email.")
def mail_group() -> None:
    pass


@mail_group.command("deliver", help="Send undelivered email in the outbox by SMTP, with retries.")
@click.option("--retries", default=3, show_default=True, type=click.IntRange(1, 10))
@click.option("--backoff", default=2.0, show_default=True, type=float, help="First wait, seconds.")
@with_app
def deliver(retries: int, backoff: float) -> None:
    from idservice.services.mail import deliver_outbox

    settings = current_app.config["KENTCARD"]
    if not settings.smtp_host:
        raise click.ClickException(
            "SMTP is not configured: set KENTCARD_SMTP_HOST. Email stays in the outbox."
        )
    report = deliver_outbox(settings, retries=retries, backoff=backoff)
    click.echo(f"Sent {report.sent} email(s); {report.failed} failed and will be retried.")
    if report.failed:
        raise SystemExit(1)
