"""``kentcard notices``: letters waiting to be posted, for the print run."""

from __future__ import annotations

import json
from pathlib import Path

import click

from idservice.cli.app import with_app


@click.group("notices", help="Notices to residents: letters to post.")
def notices_group() -> None:
    pass


@notices_group.command(
    "letters",
    help="Letters waiting to be posted, addressed from the record as it is now. With "
    "--out DIR each is written to DIR/<id>.txt; with --mark-posted they are marked posted "
    "(run it after the print run has taken them).",
)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.option("--mark-posted", is_flag=True, help="Mark the letters listed as posted.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per letter.")
@click.option("--limit", default=1000, show_default=True, type=click.IntRange(1, 100_000))
@with_app
def letters(out: Path | None, mark_posted: bool, as_json: bool, limit: int) -> None:
    from idservice.services import notices

    pending = notices.dao_letters_to_post(limit)
    printed = [notices.letter(notice, resident) for notice, resident in pending]
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        for item in printed:
            path = out / f"{item.notice_id}.txt"
            path.write_text(item.text, encoding="utf-8")
            path.chmod(0o600)  # a letter carries a name and an address
    for item in printed:
        if as_json:
            click.echo(
                json.dumps(
                    {
                        "notice": item.notice_id,
                        "kind": item.kind,
                        "formats": item.formats,
                        "subject": item.subject,
                        **({"file": str(out / f"{item.notice_id}.txt")} if out else {}),
                    }
                )
            )
        elif out is None:
            click.echo(item.text)
            click.echo("\f")  # one letter a page
    if mark_posted:
        count = notices.mark_posted([item.notice_id for item in printed])
        if not as_json:
            click.echo(f"Marked {count} letter(s) posted.", err=True)
    elif not as_json:
        click.echo(f"{len(printed)} letter(s) to post.", err=True)
