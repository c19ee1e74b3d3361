"""``kentcard issuer``, ``kentcard virtual-card`` and ``kentcard reader``.

Folders under the instance path: ``issuer/`` (private keys, 0600, issuer machine only) and
``reader/`` (what a reader needs: ``issuer-keys.json``, ``decisions.json``, ``taps.jsonl``).
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import threading
from datetime import date
from pathlib import Path
from types import FrameType

import click

from cardio import tlv
from cardio.cardnumber import CardNumberError, from_bcd, mask, new_card_number, validate
from cardio.decision import DecisionSource, LocalDecisionSource, Mode
from cardio.issuer import IssuerError, IssuerStore
from cardio.keyring import IssuerKeyring, KeyringError
from cardio.online import OnlineDecisionSource
from cardio.personalise import issue
from cardio.station import ReaderStation, TapOutcome
from cardio.taplog import TapLog
from cardio.verify import TapRejected
from idservice.config import instance_path

KEYRING_FILE = "issuer-keys.json"
DECISIONS_FILE = "decisions.json"
TAPLOG_FILE = "taps.jsonl"


def issuer_folder() -> Path:
    return instance_path() / "issuer"


def reader_folder() -> Path:
    return instance_path() / "reader"


# -- issuer ---------------------------------------------------------------------------------


@click.group("issuer", help="The card issuer's keys (development).")
def issuer_group() -> None:
    pass


@issuer_group.command("init", help="Create the development issuer keys and the reader keyring.")
def issuer_init() -> None:
    store = IssuerStore(issuer_folder())
    try:
        issuer = store.init()
    except IssuerError as exc:
        raise click.ClickException(str(exc)) from None
    keyring_path = reader_folder() / KEYRING_FILE
    issuer.keyring().save(keyring_path)
    click.echo(f"Issuer certificate key id {issuer.certificate_key_id.hex()}")
    click.echo(f"Personalisation key id {issuer.personalisation_key.key_id.hex()}")
    click.echo(f"Private keys in {store.folder} (0600); readers load {keyring_path}")


# -- virtual card ---------------------------------------------------------------------------


@click.group("virtual-card", help="The virtual Kent Card (development and tests).")
def virtual_card_group() -> None:
    pass


@virtual_card_group.command("new", help="Personalise a new virtual card into a state file.")
@click.option("--state", "state_path", required=True, type=click.Path(path_type=Path))
@click.option("--card-number", default=None, help="Default: a new development card number.")
@click.option("--pin", default=None, help="4 to 8 digits. Default: a random 4-digit PIN.")
@click.option("--expiry", default=None, help="YYYY-MM-DD. Default: five years from today.")
def virtual_card_new(
    state_path: Path, card_number: str | None, pin: str | None, expiry: str | None
) -> None:
    import secrets

    from hardware.card_state import CardStateFile
    from hardware.virtual_card import InProcessConnection, VirtualKentCard

    if state_path.exists():
        raise click.ClickException(f"{state_path} exists; a card state is never overwritten")
    try:
        number = validate(card_number) if card_number else new_card_number()
    except CardNumberError as exc:
        raise click.BadParameter(str(exc), param_hint="--card-number") from None
    today = date.today()
    valid_to = date.fromisoformat(expiry) if expiry else today.replace(year=today.year + 5)
    pin = pin or f"{secrets.randbelow(10000):04d}"
    try:
        issuer = IssuerStore(issuer_folder()).load()
    except IssuerError as exc:
        raise click.ClickException(str(exc)) from None
    card = VirtualKentCard.blank(issuer.personalisation_key.public_point, CardStateFile(state_path))
    try:
        issued = issue(InProcessConnection(card), issuer, number, valid_to, pin, today)
    except (ValueError, TapRejected) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Card {number} expires {valid_to.isoformat()}, PIN {pin}")
    click.echo(f"State in {state_path} ({issued.apdu_count} personalisation APDUs)")


@virtual_card_group.command("run", help="Serve a card to pcscd in a vpcd reader.")
@click.option("--reader", "reader_index", default=0, show_default=True, type=click.IntRange(0, 9))
@click.option("--state", "state_path", required=True, type=click.Path(path_type=Path))
@click.option("--removed", is_flag=True, help="Start with the card out of the reader.")
def virtual_card_run(reader_index: int, state_path: Path, removed: bool) -> None:
    from hardware.card_state import CardStateError, CardStateFile
    from hardware.virtual_card import VirtualKentCard
    from hardware.vpcd import VpcdCard, port_for, reader_name

    try:
        card = VirtualKentCard.from_file(CardStateFile(state_path))
    except CardStateError as exc:
        raise click.ClickException(str(exc)) from None
    served = VpcdCard(card, port_for(reader_index)).start(inserted=not removed)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGUSR1:
            served.remove()
            click.echo("card removed", err=True)
        elif signum == signal.SIGUSR2:
            served.insert()
            click.echo("card inserted", err=True)
        else:
            stop.set()

    for signum in (signal.SIGUSR1, signal.SIGUSR2, signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)
    number = None
    if card.state.card_data:
        number = from_bcd(tlv.parse(card.state.card_data)[0].value)
    click.echo(
        f"Serving card {mask(number) if number else '(blank)'} in {reader_name(reader_index)} "
        f"(vpcd port {port_for(reader_index)}); SIGUSR1 removes it, SIGUSR2 puts it back.",
        err=True,
    )
    while not stop.wait(0.5):
        pass
    served.stop()


# -- reader station -------------------------------------------------------------------------


@click.group("reader", help="The reader station: tap, verify offline, decide, log.")
def reader_group() -> None:
    pass


def _decisions(folder: Path, online: str | None, client_id: str | None) -> DecisionSource:
    """Online through the identity service when a URL is given, else the local file."""
    if not online:
        return LocalDecisionSource(folder / DECISIONS_FILE)
    if not client_id:
        raise click.UsageError("--online needs --client-id and --client-secret-stdin")
    secret = sys.stdin.readline().strip()
    if not secret:
        raise click.UsageError("give the reader's client secret on standard input")
    return OnlineDecisionSource(online, client_id, secret)


def _station(
    mode: str,
    reader: str | None,
    location: str,
    folder: Path,
    decisions: DecisionSource,
) -> ReaderStation:
    from cardio.pcsc import PcscReader

    try:
        keyring = IssuerKeyring.load(folder / KEYRING_FILE)
    except KeyringError as exc:
        raise click.ClickException(str(exc)) from None
    return ReaderStation(
        reader=PcscReader(reader),
        keyring=keyring,
        decisions=decisions,
        log=TapLog(folder / TAPLOG_FILE),
        mode=Mode(mode),
        location=location,
    )


def _show(outcome: TapOutcome, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(outcome.display_record(), separators=(",", ":")))
    else:
        click.echo(outcome.display_line())
    sys.stdout.flush()


def _event(message: str) -> None:
    click.echo(f"reader: {message}", err=True)


_MODE = click.option(
    "--mode", type=click.Choice([m.value for m in Mode]), default="library", show_default=True
)
_READER = click.option("--reader", default=None, help="Reader name or prefix (default: first).")
_JSON = click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
_LOCATION = click.option("--location", default="", help="Where the reader is, for the tap log.")
_ONLINE = click.option(
    "--online", default=None, metavar="URL", help="Decide online at this identity service."
)
_CLIENT_ID = click.option("--client-id", default=None, help="The reader's OAuth client id.")
_SECRET_STDIN = click.option(
    "--client-secret-stdin", is_flag=True, help="Read the client secret from standard input."
)
_FOLDER = click.option(
    "--config",
    "folder",
    type=click.Path(path_type=Path),
    default=None,
    help="Reader folder (default: <instance>/reader).",
)


@reader_group.command("watch", help="Wait for cards and decide every tap until stopped.")
@_MODE
@_READER
@_JSON
@_LOCATION
@_FOLDER
@_ONLINE
@_CLIENT_ID
@_SECRET_STDIN
def reader_watch(
    mode: str,
    reader: str | None,
    as_json: bool,
    location: str,
    folder: Path | None,
    online: str | None,
    client_id: str | None,
    client_secret_stdin: bool,
) -> None:
    folder = folder or reader_folder()
    decisions = _decisions(folder, online, client_id)
    station = _station(mode, reader, location, folder, decisions)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    _event(f"watching {station.reader.name} in {mode} mode")
    with contextlib.suppress(KeyboardInterrupt):
        station.watch(lambda outcome: _show(outcome, as_json), _event, stop)


@reader_group.command("tap", help="Decide a single tap; exit 0 when a decision was made.")
@click.option("--once", is_flag=True, required=True, help="One tap, then exit.")
@click.option("--timeout", default=30.0, show_default=True, help="Seconds to wait for a card.")
@_MODE
@_READER
@_JSON
@_LOCATION
@_FOLDER
@_ONLINE
@_CLIENT_ID
@_SECRET_STDIN
def reader_tap(
    once: bool,
    timeout: float,
    mode: str,
    reader: str | None,
    as_json: bool,
    location: str,
    folder: Path | None,
    online: str | None,
    client_id: str | None,
    client_secret_stdin: bool,
) -> None:
    folder = folder or reader_folder()
    decisions = _decisions(folder, online, client_id)
    station = _station(mode, reader, location, folder, decisions)
    stop = threading.Event()
    outcomes: list[TapOutcome] = []
    timer = threading.Timer(timeout, stop.set)
    timer.start()
    try:
        station.watch(outcomes.append, _event, stop, max_taps=1)
    finally:
        timer.cancel()
    if not outcomes:
        _event(f"no card within {timeout:g} s")
        sys.exit(2)
    _show(outcomes[0], as_json)
    sys.exit(0 if outcomes[0].decided else 1)


@reader_group.command("grant", help="Add an entitlement to the local decision file.")
@click.argument("card_number")
@_MODE
@click.option("--entitlement", required=True, help="e.g. concessionary-bus-pass")
@click.option("--valid-until", default=None, help="YYYY-MM-DD (inclusive).")
@_FOLDER
def reader_grant(
    card_number: str, mode: str, entitlement: str, valid_until: str | None, folder: Path | None
) -> None:
    source = LocalDecisionSource((folder or reader_folder()) / DECISIONS_FILE)
    until = date.fromisoformat(valid_until) if valid_until else None
    source.grant(card_number, Mode(mode), entitlement, until)
    click.echo(f"{mask(card_number)}: {entitlement} for {mode}")


@reader_group.command("hotlist", help="Hotlist a card in the local decision file.")
@click.argument("card_number")
@click.option("--why", type=click.Choice(["lost", "stolen", "damaged", "replaced"]), required=True)
@_FOLDER
def reader_hotlist(card_number: str, why: str, folder: Path | None) -> None:
    LocalDecisionSource((folder or reader_folder()) / DECISIONS_FILE).hotlist(card_number, why)
    click.echo(f"{mask(card_number)} hotlisted ({why})")
