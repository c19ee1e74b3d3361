"""``kentcard issuer``, ``kentcard virtual-card`` and ``kentcard reader``.

Folders under the instance path: ``issuer/`` (private keys, 0600, issuer machine only) and
``reader/`` (what a reader needs: ``issuer-keys.json``, the public keys of the card
certificates and of the offline lists; ``offline-<mode>.kcstate``, the signed offline list
it holds; optionally ``offline-policy.json``; ``taps.jsonl``; and ``queue/``, the taps
decided offline waiting for ``kentcard reader sync``).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from types import FrameType
from typing import Any

import click

from cardio import tlv
from cardio.cardnumber import CardNumberError, from_bcd, mask, new_card_number, validate
from cardio.decision import DecisionSource, Mode
from cardio.issuer import IssuerError, IssuerStore
from cardio.keyring import IssuerKeyring, KeyringError
from cardio.offline import OfflinePolicy, PolicyError, SnapshotDecisionSource
from cardio.online import OnlineDecisionError, OnlineDecisionSource
from cardio.personalise import issue
from cardio.snapshot import SnapshotKeyring, SnapshotKeyringError, SnapshotRefused, SnapshotStore
from cardio.station import ReaderStation, TapOutcome
from cardio.sync import DEFAULT_BATCH_SIZE, DEFAULT_IN_FLIGHT, SnapshotHook, sync
from cardio.taplog import TapLog
from cardio.tapqueue import QueueBusy, open_queue
from cardio.verify import TapRejected
from idservice.config import instance_path

#: docs/card-protocol.md, "Deadlines": why 150 ms.
DEFAULT_APDU_DEADLINE_MS = 150
KEYRING_FILE = "issuer-keys.json"
TAPLOG_FILE = "taps.jsonl"


def issuer_folder() -> Path:
    return instance_path() / "issuer"


def reader_folder() -> Path:
    return instance_path() / "reader"


# -- issuer ---------------------------------------------------------------------------------


@click.group("issuer", help="The card issuer's keys.")
def issuer_group() -> None:
    pass


def _store(create_development: bool = False) -> IssuerStore:
    from idservice.cards.issuer_keys import issuer_store

    try:
        return issuer_store(instance_path(), create_development=create_development)
    except IssuerError as exc:
        raise click.ClickException(str(exc)) from None


def _embedded_default() -> bool:
    """The database is the embedded SQLite file: a development instance."""
    return os.environ.get("KENTCARD_DATABASE_URL", "sqlite").startswith("sqlite")


@issuer_group.command("init", help="Create the issuer keys (encrypted) and the reader keyring.")
def issuer_init() -> None:
    store = _store(create_development=_embedded_default())
    try:
        issuer = store.init()
    except IssuerError as exc:
        raise click.ClickException(str(exc)) from None
    keyring_path = _save_reader_keys(store)
    click.echo(f"Issuer certificate key id {issuer.certificate_key_id.hex()}")
    click.echo(f"Personalisation key id {issuer.personalisation_key.key_id.hex()}")
    click.echo(f"Private keys in {store.folder}, encrypted with {store.protection.source}")
    click.echo(f"Readers load {keyring_path}")


def _save_reader_keys(store: IssuerStore) -> Path:
    """The instance's own reader folder gets the public export (both kinds of key)."""
    path = reader_folder() / KEYRING_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(store.export_public(), indent=2) + "\n")
    os.replace(tmp, path)
    return path


@issuer_group.command(
    "rotate", help="A new certificate (or snapshot) key signs; what the old one signed verifies."
)
@click.option(
    "--key",
    "role",
    type=click.Choice(["certificate", "snapshot"]),
    default="certificate",
    show_default=True,
    help="snapshot: the key that signs readers' offline lists (made on first use).",
)
def issuer_rotate(role: str) -> None:
    from idservice.config import Settings

    store = _store()
    if role == "snapshot":
        try:
            snapshot_key = store.rotate_snapshot_key()
        except IssuerError as exc:
            raise click.ClickException(str(exc)) from None
        from cardio.certificate import key_id_of

        keyring_path = _save_reader_keys(store)
        key_id = key_id_of(snapshot_key.public_key()).hex()
        click.echo(f"Snapshot key id {key_id} signs offline lists")
        click.echo(
            f"Updated {keyring_path}; give `kentcard issuer export-public` to every reader "
            "before the next `kentcard snapshots build`"
        )
        return
    days = Settings.from_env().card_validity_years * 366
    try:
        issuer = store.rotate(card_validity_days=days)
    except IssuerError as exc:
        raise click.ClickException(str(exc)) from None
    keyring_path = _save_reader_keys(store)
    click.echo(f"New certificate key id {issuer.certificate_key_id.hex()} signs from today")
    for key in issuer.previous_keys:
        record = next(r for r in store.certificate_keys() if r.key_id == key.key_id.hex())
        click.echo(f"Key {record.key_id} verifies its cards until {record.verify_until}")
    click.echo(
        f"Updated {keyring_path}; run `kentcard issuer export-public --out FILE` and give it "
        "to every reader, and restart `kentcard serve` workers"
    )


@issuer_group.command(
    "export-public", help="The readers' keyring: public keys and their validity, no secrets."
)
@click.option("--out", "out", type=click.Path(path_type=Path), help="Default: standard output.")
def issuer_export_public(out: Path | None) -> None:
    store = IssuerStore(issuer_folder())  # public halves only: no passphrase needed
    try:
        document = store.export_public()
    except IssuerError as exc:
        raise click.ClickException(str(exc)) from None
    text = json.dumps(document, indent=2) + "\n"
    if out is None:
        click.echo(text, nl=False)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, out)
    click.echo(f"{len(document['keys'])} issuer public key(s) written to {out}", err=True)


@issuer_group.command("encrypt", help="Encrypt issuer keys made before keys were encrypted.")
def issuer_encrypt() -> None:
    store = _store(create_development=_embedded_default())
    try:
        issuer = store.encrypt()
    except IssuerError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"Issuer keys {issuer.certificate_key_id.hex()} and "
        f"{issuer.personalisation_key.key_id.hex()} encrypted with {store.protection.source}"
    )


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
        issuer = _store().load()
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
@click.option(
    "--fault",
    type=click.Choice(["silent", "empty", "one-byte"]),
    default=None,
    help="A broken card (reader tests): no answer, an empty frame, or one byte.",
)
@click.option(
    "--fault-on",
    type=click.Choice(["select", "verify", "authenticate"]),
    default="select",
    show_default=True,
    help="The command the --fault is on (VERIFY, a sign-in's, and INTERNAL AUTHENTICATE: "
    "after a good SELECT).",
)
def virtual_card_run(
    reader_index: int, state_path: Path, removed: bool, fault: str | None, fault_on: str
) -> None:
    from hardware.card_state import CardStateError, CardStateFile
    from hardware.faulty_card import FAULT_ON, Fault, FaultyCard
    from hardware.virtual_card import Card, VirtualKentCard
    from hardware.vpcd import VpcdCard, port_for, reader_name

    try:
        card = VirtualKentCard.from_file(CardStateFile(state_path))
    except CardStateError as exc:
        raise click.ClickException(str(exc)) from None
    playing: Card = card
    if fault is not None:
        playing = FaultyCard(card, Fault(fault), FAULT_ON[fault_on])
    served = VpcdCard(playing, port_for(reader_index)).start(inserted=not removed)
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
    broken = f", {fault} on {fault_on}" if fault else ""
    click.echo(
        f"Serving card {mask(number) if number else '(blank)'}{broken} in "
        f"{reader_name(reader_index)} (vpcd port {port_for(reader_index)}); SIGUSR1 removes "
        "it, SIGUSR2 puts it back.",
        err=True,
    )
    while not stop.wait(0.5):
        pass
    served.stop()


# -- reader station -------------------------------------------------------------------------


@click.group("reader", help="The reader station: tap, verify offline, decide, log.")
def reader_group() -> None:
    pass


def _snapshot_store(folder: Path, mode: str) -> SnapshotStore:
    try:
        keyring = SnapshotKeyring.load(folder / KEYRING_FILE)
    except SnapshotKeyringError as exc:
        raise click.ClickException(str(exc)) from None
    return SnapshotStore(folder, mode, keyring)


def _offline(folder: Path, mode: str) -> SnapshotDecisionSource:
    """The signed offline list the reader holds, under its offline policy."""
    store = _snapshot_store(folder, mode)
    try:
        policy = OfflinePolicy.load(folder)
        policy.for_mode(mode)
    except PolicyError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        store.load()
    except SnapshotRefused as exc:
        _event(f"the offline list held is refused ({exc}): deciding under the offline policy")
    return SnapshotDecisionSource(store, policy)


def _decisions(
    folder: Path, online: str | None, client_id: str | None, mode: str
) -> DecisionSource:
    """Online through the identity service when a URL is given, else the offline list."""
    if not online:
        return _offline(folder, mode)
    if not client_id:
        raise click.UsageError("--online needs --client-id and --client-secret-stdin")
    secret = sys.stdin.readline().strip()
    if not secret:
        raise click.UsageError("give the reader's client secret on standard input")
    return OnlineDecisionSource(online, client_id, secret)


def _announce(decisions: DecisionSource, online: str | None) -> None:
    """Say how taps will be decided; online, fetch the token now so a wrong secret or an
    unreachable service shows at start (taps are still served: they answer "offline")."""
    if isinstance(decisions, SnapshotDecisionSource):
        held = decisions.store.current
        _event(f"deciding from the {held.describe()}" if held else "no offline list held yet")
        return
    if not isinstance(decisions, OnlineDecisionSource):
        return
    try:
        decisions.token()
    except OnlineDecisionError as exc:
        _event(f"online decisions not available yet ({exc})")
    else:
        _event(f"deciding online at {online}")


def _station(
    mode: str,
    reader: str | None,
    location: str,
    folder: Path,
    decisions: DecisionSource,
    apdu_deadline_ms: int = DEFAULT_APDU_DEADLINE_MS,
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
        apdu_deadline=apdu_deadline_ms / 1000,
        # Taps a source decides offline (Decision.offline) wait here for `reader sync`.
        queue=open_queue(folder),
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
_APDU_DEADLINE = click.option(
    "--apdu-deadline-ms",
    type=click.IntRange(1, 10_000),
    default=DEFAULT_APDU_DEADLINE_MS,
    show_default=True,
    envvar="KENTCARD_READER_APDU_DEADLINE_MS",
    help="Milliseconds the card gets to answer each command (a tap gets twice that in "
    "all, a sign-in attempt three times); a card that does not answer is refused as "
    "card_silent. Also KENTCARD_READER_APDU_DEADLINE_MS.",
)
_FOLDER = click.option(
    "--config",
    "folder",
    type=click.Path(path_type=Path),
    default=None,
    help="Reader folder (default: <instance>/reader).",
)


@dataclass(frozen=True)
class _StationSettings:
    """What ``reader watch`` and ``reader tap`` share: where and how taps are decided."""

    mode: str
    reader: str | None
    as_json: bool
    location: str
    folder: Path | None
    online: str | None
    client_id: str | None
    apdu_deadline_ms: int = DEFAULT_APDU_DEADLINE_MS

    def serve(self, on_tap: Callable[[TapOutcome], None], once_within: float | None) -> None:
        """Open the station and decide taps: every tap until SIGTERM or Ctrl-C, or only
        the first one within ``once_within`` seconds."""
        folder = self.folder or reader_folder()
        decisions = _decisions(folder, self.online, self.client_id, self.mode)
        station = _station(
            self.mode, self.reader, self.location, folder, decisions, self.apdu_deadline_ms
        )
        _announce(decisions, self.online)
        stop = threading.Event()
        if once_within is None:
            signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
            _event(f"watching {station.reader.name} in {self.mode} mode")
            with contextlib.suppress(KeyboardInterrupt):
                station.watch(on_tap, _event, stop)
            return
        timer = threading.Timer(once_within, stop.set)
        timer.start()
        try:
            station.watch(on_tap, _event, stop, max_taps=1)
        finally:
            timer.cancel()


def _station_options(command: Callable[..., None]) -> Callable[..., None]:
    """Add the station's options to ``command``, which receives them as one
    :class:`_StationSettings` (its first argument) beside its own options."""

    @functools.wraps(command)
    def with_settings(
        *,
        mode: str,
        reader: str | None,
        as_json: bool,
        location: str,
        folder: Path | None,
        online: str | None,
        client_id: str | None,
        client_secret_stdin: bool,
        apdu_deadline_ms: int,
        **own: Any,
    ) -> None:
        settings = _StationSettings(
            mode, reader, as_json, location, folder, online, client_id, apdu_deadline_ms
        )
        command(settings, **own)

    # click lists options in the order the decorators are written, so apply them last first.
    options = (
        _MODE,
        _READER,
        _JSON,
        _LOCATION,
        _FOLDER,
        _ONLINE,
        _CLIENT_ID,
        _SECRET_STDIN,
        _APDU_DEADLINE,
    )
    decorated: Callable[..., None] = with_settings
    for option in reversed(options):
        decorated = option(decorated)
    return decorated


@reader_group.command("watch", help="Wait for cards and decide every tap until stopped.")
@_station_options
def reader_watch(settings: _StationSettings) -> None:
    settings.serve(lambda outcome: _show(outcome, settings.as_json), once_within=None)


@reader_group.command("tap", help="Decide a single tap; exit 0 when a decision was made.")
@click.option("--once", is_flag=True, required=True, help="One tap, then exit.")
@click.option("--timeout", default=30.0, show_default=True, help="Seconds to wait for a card.")
@_station_options
def reader_tap(settings: _StationSettings, once: bool, timeout: float) -> None:
    outcomes: list[TapOutcome] = []
    settings.serve(outcomes.append, once_within=timeout)
    if not outcomes:
        _event(f"no card within {timeout:g} s")
        sys.exit(2)
    _show(outcomes[0], settings.as_json)
    sys.exit(0 if outcomes[0].decided else 1)


@reader_group.command(
    "sign-in",
    help="Card + PIN sign-in at a kiosk: sign the challenge for the code on screen; exit 0 "
    "when the service accepted the card, 1 otherwise (the reason is said).",
)
@click.option("--code", required=True, help="The sign-in code the kiosk screen shows.")
@click.option("--online", required=True, metavar="URL", help="The identity service.")
@_CLIENT_ID
@_SECRET_STDIN
@_READER
@click.option(
    "--timeout",
    default=30.0,
    show_default=True,
    help="Seconds to wait for a card (and for it to be taken out after a failed tap).",
)
@click.option(
    "--pin-stdin", is_flag=True, help="Read the PIN from standard input (tests, PIN pads)."
)
@_APDU_DEADLINE
def reader_sign_in(
    code: str,
    online: str,
    client_id: str | None,
    client_secret_stdin: bool,
    reader: str | None,
    timeout: float,
    pin_stdin: bool,
    apdu_deadline_ms: int,
) -> None:
    """Not signed in (exit 1): a card that did not answer properly in any of its taps, or
    left in the reader after one; a wrong or blocked PIN; a refused card; the service,
    pcscd or the reader unavailable."""
    from cardio.pcsc import PcscReader
    from cardio.signin import KioskSignIn, OnlineSignIn

    if not client_id:
        raise click.UsageError("give the reader's --client-id and --client-secret-stdin")
    secret = sys.stdin.readline().strip()
    if not secret:
        raise click.UsageError("give the reader's client secret on standard input")

    def ask_pin() -> str:
        if pin_stdin:
            pin = sys.stdin.readline().strip()
            if not pin:
                raise click.ClickException("no PIN on standard input")
            return pin
        return str(click.prompt("Card PIN", hide_input=True, err=True))

    kiosk = KioskSignIn(
        PcscReader(reader),
        OnlineSignIn(online, client_id, secret),
        card_wait=timeout,
        apdu_deadline=apdu_deadline_ms / 1000,
    )
    result = kiosk.run(code, ask_pin, click.echo, _event)
    sys.exit(0 if result.signed_in else 1)


def _snapshot_hook(folder: Path) -> SnapshotHook | None:
    """What ``reader sync`` runs before uploading: fetch the signed offline snapshot's
    deltas and return the version the reader then holds. None until signed snapshots
    exist; the snapshot work plugs its fetch in here (and ``reader watch`` calls the same
    :func:`cardio.sync.sync` in the background)."""
    return None


@reader_group.command(
    "sync", help="Upload the taps decided offline (and tell the service the reader's state)."
)
@click.option("--online", required=True, metavar="URL", help="The identity service.")
@_CLIENT_ID
@_SECRET_STDIN
@_FOLDER
@click.option(
    "--batch-size",
    default=DEFAULT_BATCH_SIZE,
    show_default=True,
    type=click.IntRange(1, 1000),
    help="Taps per request.",
)
@click.option(
    "--in-flight",
    default=DEFAULT_IN_FLIGHT,
    show_default=True,
    type=click.IntRange(1, 8),
    help="Requests sent before the first is answered.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def reader_sync(
    online: str,
    client_id: str | None,
    client_secret_stdin: bool,
    folder: Path | None,
    batch_size: int,
    in_flight: int,
    as_json: bool,
) -> None:
    if not client_id:
        raise click.UsageError("give the reader's --client-id and --client-secret-stdin")
    secret = sys.stdin.readline().strip()
    if not secret:
        raise click.UsageError("give the reader's client secret on standard input")
    folder = folder or reader_folder()
    queue = open_queue(folder)
    link = OnlineDecisionSource(online, client_id, secret)
    try:
        report = sync(
            queue,
            link,
            snapshot=_snapshot_hook(folder),
            batch_size=batch_size,
            in_flight=in_flight,
        )
    except QueueBusy as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(report.as_dict()))
    else:
        click.echo(
            f"{report.recorded} taps recorded, {report.duplicates} already there, "
            f"{report.refused} refused (kept in {queue.folder / 'refused.jsonl'}), "
            f"{report.flagged} flagged for follow-up; {report.remaining} still queued"
        )
    if report.error:
        _event(f"stopped: {report.error}; the next sync goes on from here")
        sys.exit(1)


@reader_group.group("snapshot", help="The reader's signed offline list.")
def reader_snapshot_group() -> None:
    pass


@reader_snapshot_group.command(
    "load", help="Verify signed lists (full, then deltas in order) and keep them."
)
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True))
@_MODE
@_FOLDER
def reader_snapshot_load(files: tuple[Path, ...], mode: str, folder: Path | None) -> None:
    store = _snapshot_store(folder or reader_folder(), mode)
    try:
        store.load()
    except SnapshotRefused as exc:
        _event(f"the list held is refused ({exc}): only a full list can replace it")
    refused = 0
    for path in files:
        try:
            accepted = store.accept(path.read_bytes())
        except SnapshotRefused as exc:
            refused += 1
            click.echo(f"{path}: refused ({exc.code}): {exc}; the list held stays in use")
            continue
        click.echo(f"{path}: {accepted.change}")
    if store.current is not None:
        click.echo(f"Holding the {store.current.describe()}")
    sys.exit(1 if refused else 0)


@reader_snapshot_group.command("status", help="Which offline list the reader holds, and its age.")
@_MODE
@_FOLDER
def reader_snapshot_status(mode: str, folder: Path | None) -> None:
    from cardio.snapshot import utcnow

    folder = folder or reader_folder()
    store = _snapshot_store(folder, mode)
    try:
        held = store.load()
    except SnapshotRefused as exc:
        raise click.ClickException(f"the offline list on disk is refused: {exc}") from None
    if held is None:
        click.echo(f"No {mode} offline list held")
        sys.exit(1)
    try:
        limit = OfflinePolicy.load(folder).for_mode(mode).max_age_hours
    except PolicyError as exc:
        raise click.ClickException(str(exc)) from None
    hours = held.age_seconds(utcnow()) / 3600
    state = "offline list too old" if hours > limit else "fresh"
    click.echo(f"{held.describe()}; {hours:.1f} h old, limit {limit:g} h: {state}")
