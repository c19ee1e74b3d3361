"""``kentcard ledger``: verify, rebuild, sign and prove the entitlement ledger.

Works on the configured database and the signing key in the instance folder; exits
non-zero when verification fails so a scheduled job or an auditor's script notices.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from sqlalchemy import Engine

from cardio.issuer import IssuerError
from entitlements.ledger import store
from entitlements.ledger.signing import LedgerKeyError, SigningKey, load_public_pem
from entitlements.ledger.verify import verify
from idservice.cards.issuer_keys import ledger_signing_key
from idservice.config import Settings
from idservice.db import make_engine


def _engine_and_key() -> tuple[Engine, SigningKey]:
    settings = Settings.from_env()
    try:
        key = ledger_signing_key(settings.instance_path, settings.database_url)
    except (IssuerError, LedgerKeyError) as exc:
        raise click.ClickException(str(exc)) from None
    return make_engine(settings.database_url), key


@click.group("ledger", help="The tamper-evident entitlement ledger.")
def ledger_group() -> None:
    pass


@ledger_group.command("verify", help="Check every event, link and signed tree head.")
@click.option("--json", "as_json", is_flag=True)
def verify_command(as_json: bool) -> None:
    engine, key = _engine_and_key()
    try:
        report = verify(engine, {key.key_id: key.public_key})
    finally:
        engine.dispose()
    if as_json:
        click.echo(json.dumps(report.as_dict()))
    elif report.ok:
        click.echo(
            f"Ledger verified: {report.size} events, {report.tree_heads_checked} signed tree heads."
        )
    else:
        where = f"first bad event: {report.first_bad_seq}; " if report.first_bad_seq else ""
        click.echo(f"Ledger verification FAILED ({where}{report.problem})", err=True)
    if not report.ok:
        sys.exit(1)


@ledger_group.command("rebuild", help="Rebuild current entitlements from the events.")
def rebuild_command() -> None:
    engine, _ = _engine_and_key()
    try:
        count = store.rebuild(engine)
    finally:
        engine.dispose()
    click.echo(f"Rebuilt {count} entitlement states from the ledger.")


@ledger_group.command("sign", help="Sign a tree head over every event so far.")
def sign_command() -> None:
    engine, key = _engine_and_key()
    try:
        head = store.sign_tree_head(engine, key)
    finally:
        engine.dispose()
    click.echo(json.dumps(head.as_dict()))


@ledger_group.command("proof", help="Print an inclusion proof for event SEQ (JSON).")
@click.argument("seq", type=click.IntRange(min=1))
def proof_command(seq: int) -> None:
    engine, key = _engine_and_key()
    try:
        head = store.latest_tree_head(engine, at_least=seq)
        if head is None or head.key_id != key.key_id:
            head = store.sign_tree_head(engine, key)
        if seq > head.tree_size:
            raise click.BadParameter(f"the ledger has {head.tree_size} events", param_hint="SEQ")
        click.echo(json.dumps(store.inclusion(engine, seq, head, key), indent=2))
    finally:
        engine.dispose()


@ledger_group.command("check-proof", help="Check a proof file as an outside party would.")
@click.argument("proof_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--public-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The ledger's public key (PEM) obtained separately; default: the one in the proof.",
)
def check_proof_command(proof_file: Path, public_key: Path | None) -> None:
    try:
        proof = json.loads(proof_file.read_text())
        pem = public_key.read_text() if public_key else proof["public_key"]
        ok = store.check_proof(proof, load_public_pem(pem))
    except (ValueError, KeyError, TypeError) as exc:
        raise click.ClickException(f"not a ledger proof: {exc}") from None
    if not ok:
        click.echo(f"Proof FAILED for event {proof.get('seq')}.", err=True)
        sys.exit(1)
    click.echo(f"Event {proof['seq']} is in the signed ledger.")
