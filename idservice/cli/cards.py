"""``kentcard cards``: the card register's batch jobs (the card bureau's production file)."""

from __future__ import annotations

import getpass
import os
from datetime import date
from pathlib import Path

import click

from idservice.cli.app import with_app


@click.group("cards", help="Kent Cards in the register.")
def cards_group() -> None:
    pass


def _day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("use YYYY-MM-DD, like 2026-11-01", param_hint=option) from None


@cards_group.command(
    "production-file", help="Cards for the card bureau to print: CSV or JSON (audited)."
)
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), required=True)
@click.option("--since", default=None, help="Only cards issued on or after YYYY-MM-DD.")
@click.option("--out", type=click.Path(path_type=Path), help="Default: standard output.")
@with_app
def production_file_command(fmt: str, since: str | None, out: Path | None) -> None:
    from entitlements.catalogue import load_catalogue
    from idservice.cards.production import production_file

    from_day = _day(since, "--since")
    operator = f"cli:{getpass.getuser()}"
    tmp = out.with_name(out.name + ".tmp") if out is not None else None

    def keep(text: str) -> None:
        """Written in full before the audit commits, renamed after."""
        if tmp is None:
            return
        tmp.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())

    try:
        text, rows = production_file(
            load_catalogue(), fmt, from_day, date.today(), operator, keep=keep
        )
    except BaseException:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        raise
    if out is None or tmp is None:
        click.echo(text, nl=False)
        return
    os.replace(tmp, out)
    missing = sum(1 for row in rows if not row.photo_reference)
    click.echo(f"{len(rows)} card(s) written to {out} ({missing} without a photo)", err=True)
