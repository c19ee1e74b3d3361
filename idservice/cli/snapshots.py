"""``kentcard snapshots``: build the readers' signed offline lists (run it on a schedule)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from cardio.decision import Mode
from idservice.cli.app import with_app

MODES = tuple(mode.value for mode in Mode)


@click.group("snapshots", help="Signed offline lists for readers.")
def snapshots_group() -> None:
    pass


def _write(folder: Path, name: str, data: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    tmp = path.with_name(name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


@snapshots_group.command(
    "build", help="Build, sign and store the next version of each mode's offline list."
)
@click.option(
    "--mode", "modes", multiple=True, type=click.Choice(MODES), help="Default: every mode."
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Also write each full list and its delta from the last version here.",
)
@click.option(
    "--keep",
    default=None,
    type=click.IntRange(1, 1000),
    help="Earlier versions that get a delta to this one (default 48).",
)
@with_app
def build_command(modes: tuple[str, ...], out: Path | None, keep: int | None) -> None:
    from sqlalchemy.exc import IntegrityError

    from cardio.issuer import IssuerError
    from idservice.snapshots.build import KEEP_DELTAS, build_snapshots

    try:
        built = build_snapshots(modes or MODES, keep=keep or KEEP_DELTAS)
    except IssuerError as exc:
        raise click.ClickException(str(exc)) from None
    except IntegrityError:
        raise click.ClickException(
            "another build stored the same version a moment ago: run the build again"
        ) from None
    for one in built:
        since = f", {one.changed} card(s) changed since {one.base_version}" if one.delta else ""
        click.echo(
            f"{one.mode}: version {one.version}, {one.records} records "
            f"({one.hotlisted} hotlisted){since}; full list {len(one.full):,} bytes, "
            f"deltas from {one.deltas} earlier version(s); {one.seconds:.1f} s"
        )
        if out is not None:
            path = _write(out, f"{one.mode}-{one.version}.full.kcsnap", one.full)
            click.echo(f"  {path}", err=True)
            if one.delta is not None:
                name = f"{one.mode}-{one.base_version}-{one.version}.delta.kcsnap"
                click.echo(f"  {_write(out, name, one.delta)}", err=True)
