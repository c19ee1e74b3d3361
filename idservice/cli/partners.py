"""``kentcard partners``, ``kentcard events`` and ``kentcard life-events``.

Partners are registered with ``kentcard clients create --partner`` (idservice/cli/oauth.py);
these commands list and change them, run the delivery worker, and take a registrar's
feed of life events.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from typing import Any

import click
from flask import current_app

from idservice.cli.app import with_app
from idservice.partners import outbox, registry, status
from idservice.partners.delivery import Backoff, Worker
from idservice.partners.secevent import EVENT_TYPES
from idservice.services import life_event_feed
from idservice.services.residents import NotFound


def register(main: click.Group) -> None:
    main.add_command(partners_group)
    main.add_command(events_group)
    main.add_command(life_events_group)
    residents = main.commands.get("residents")
    if isinstance(residents, click.Group):
        residents.add_command(residents_erase)


# --- partners -----------------------------------------------------------------------------


@click.group("partners", help="Partner services: contacts, webhooks and subscriptions.")
def partners_group() -> None:
    pass


@partners_group.command("list", help="Partners (never their secrets).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_app
def partners_list(as_json: bool) -> None:
    rows = [registry.partner_view(p).as_dict() for p in registry.dao_list_partners()]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        state = "active" if row["active"] else "inactive"
        click.echo(
            f"{row['client_id']}  {row['display_name']}  [{state}]  "
            f"{row['webhook_url'] or '(no webhook)'}  services: {' '.join(row['services']) or '-'}"
        )


@partners_group.command("update", help="Change a partner's record.")
@click.argument("client_id")
@click.option("--display-name", default=None)
@click.option("--contact-email", default=None)
@click.option("--webhook-url", default=None, help="https (http only to 127.0.0.1 in development).")
@click.option("--service", "services", multiple=True, help="Replaces the list; repeatable.")
@click.option(
    "--event", "events", multiple=True, type=click.Choice(list(EVENT_TYPES)), help="Replaces."
)
@click.option("--active/--inactive", default=None)
@with_app
def partners_update(
    client_id: str,
    display_name: str | None,
    contact_email: str | None,
    webhook_url: str | None,
    services: tuple[str, ...],
    events: tuple[str, ...],
    active: bool | None,
) -> None:
    try:
        changed = registry.update_partner(
            client_id,
            display_name=display_name,
            contact_email=contact_email,
            webhook_url=webhook_url,
            services=list(services) if services else None,
            events=list(events) if events else None,
            active=active,
        )
    except registry.PartnerError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(f"Changed: {', '.join(changed)}" if changed else "Nothing was changed")


# --- events: the delivery worker ------------------------------------------------------------


@click.group("events", help="Security Event Tokens for partners: the outbox and its delivery.")
def events_group() -> None:
    pass


@events_group.command("deliver", help="Push due events to partners' webhooks.")
@click.option("--once", is_flag=True, help="Stop when nothing is due (for cron and tests).")
@click.option("--batch", default=100, show_default=True, type=click.IntRange(1, 5000))
@click.option("--concurrency", default=8, show_default=True, type=click.IntRange(1, 128))
@click.option("--timeout", default=10.0, show_default=True, type=click.FloatRange(0.1, 120))
@click.option(
    "--lease",
    default=None,
    type=click.FloatRange(0.5),
    help="Seconds (default 4 timeouts, at least 60).",
)
@click.option("--max-attempts", default=12, show_default=True, type=click.IntRange(1, 100))
@click.option("--backoff-base", default=30.0, show_default=True, type=click.FloatRange(0.0))
@click.option("--poll", default=1.0, show_default=True, type=click.FloatRange(0.01))
@with_app
def events_deliver(
    once: bool,
    batch: int,
    concurrency: int,
    timeout: float,
    lease: float | None,
    max_attempts: int,
    backoff_base: float,
    poll: float,
) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    worker = Worker(
        engine=current_app.extensions["kentcard_engine"],
        keys=current_app.extensions["kentcard_oauth_keys"],
        issuer=current_app.config["KENTCARD"].issuer,
        batch=batch,
        concurrency=concurrency,
        timeout=timeout,
        lease=lease,
        backoff=Backoff(base=backoff_base, max_attempts=max_attempts),
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        total = worker.run(once=once, poll=poll, stop=stop)
    except KeyboardInterrupt:  # pragma: no cover - interactive
        return
    finally:
        worker.close()
    click.echo(f"Delivered {total.delivered}, to retry {total.retrying}, dead {total.dead}.")


@events_group.command("list", help="Delivery status counts per status.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_app
def events_list(as_json: bool) -> None:
    data = status.counts()
    if as_json:
        click.echo(json.dumps(data))
        return
    for name, count in data.items():
        click.echo(f"{name}: {count}")


@events_group.command("requeue", help="Send dead events again (after the partner is fixed).")
@click.option("--partner", "client_id", default=None, help="Only this partner's (client id).")
@with_app
def events_requeue(client_id: str | None) -> None:
    click.echo(f"{outbox.requeue_dead(client_id)} events queued again (same jti).")


# --- life events: a registrar's feed --------------------------------------------------------


@click.group("life-events", help="Life events told once (registrar feed, scripts).")
def life_events_group() -> None:
    pass


@life_events_group.command(
    "import",
    help="Apply a feed: one JSON object per line. Each line is checked with the same rules "
    "and messages as the staff console and applied in a transaction of its own; a refused "
    "line is reported (line number, field, message: never its values) and the rest still "
    "go in. Ends with a count of lines applied, refused and unchanged. Exit status 1 if "
    "any line was refused.",
)
@click.argument("feed", type=click.File("r"))
@with_app
def life_events_import(feed: Any) -> None:
    """Each line: ``{"kind", "date", "reference", and resident_id or given_name,
    family_name, date_of_birth, postcode}``; a change of name adds ``given_name_new`` and
    ``family_name_new``, a change of address ``address_line_1_new`` and so on. Rows that
    do not match exactly one record are reported and left for a person to check."""
    summary = life_event_feed.Summary()
    for result in life_event_feed.import_lines(feed):
        summary.add(result)
        if result.status == life_event_feed.APPLIED:
            click.echo(f"line {result.number}: recorded life event {result.life_event_id}")
        elif result.status == life_event_feed.UNCHANGED:
            click.echo(f"line {result.number}: unchanged: {result.problems[0]}")
        else:
            for problem in result.problems:
                click.echo(f"line {result.number}: not applied: {problem}", err=True)
    click.echo(str(summary))
    if summary.refused:
        sys.exit(1)


@click.command("erase", help="Erase a resident's personal data (a request by post or in person).")
@click.argument("resident_id")
@click.option("--reason", required=True, help="The request's reference, for the audit record.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_app
def residents_erase(resident_id: str, reason: str, yes: bool) -> None:
    from idservice.services import your_data

    if not yes:
        click.confirm("Erase this resident's personal data? This cannot be undone", abort=True)
    try:
        your_data.erase(
            resident_id,
            password=None,
            actor_type="system",
            actor_id="cli",
            channel="system",
            reason=reason[:500],
        )
    except NotFound:
        raise click.UsageError(f"No resident with id {resident_id}") from None
    except your_data.ErasureRefused as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(f"Erased the personal data of {resident_id}; pseudonymous records kept.")
