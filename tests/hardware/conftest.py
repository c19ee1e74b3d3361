"""The real PC/SC stack: pcscd (started here if none answers) and vpcd readers.

In CI (``CI=true``) a missing pcscd or vpcd is a failure; elsewhere these tests skip with
the reason. One pcscd per machine and two vpcd ports, so a lock file serialises every test
that uses them (xdist workers, or two checkouts testing at once).
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from cardio.connection import TransportError
from cardio.issuer import Issuer
from cardio.pcsc import PcscReader
from cardio.personalise import personalise
from cardio.session import KentCardSession
from hardware.card_state import CardStateFile
from hardware.rig import Pcscd, missing_parts
from hardware.virtual_card import InProcessConnection, VirtualKentCard
from hardware.vpcd import VpcdCard
from idservice.cards.issuer_keys import issuer_store

# One lock per machine, like pcscd itself.
LOCK_FILE = Path(tempfile.gettempdir()) / "kentcard-pcsc-rig.lock"
READER = "Virtual PCD 00 00"
CARD_NUMBER = "9826010000000010"
PIN = "1357"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def once_per_make_test() -> None:
    """The slow subprocess tests run in the SQLite pass only: they touch no database."""
    if os.environ.get("KENTCARD_TEST_DATABASE_URL"):
        pytest.skip("runs once per `make test`, in the SQLite pass (needs no database)")


@pytest.fixture(scope="session")
def pcscd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pcscd]:
    reason = missing_parts()
    if reason:
        if in_ci():
            pytest.fail(f"CI must run the PC/SC tests: {reason}")
        pytest.skip(reason)
    LOCK_FILE.touch(exist_ok=True)
    with LOCK_FILE.open("r") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        rig = Pcscd(tmp_path_factory.mktemp("pcscd") / "pcscd.log")
        try:
            rig.ensure()
            if in_ci() and not rig.started_here:
                rig.take_over()  # CI's machine is ours: the fault test needs its own pcscd
        except (RuntimeError, TimeoutError) as exc:
            rig.stop()  # a pcscd started here that never listed the readers: not left behind
            if in_ci():
                pytest.fail(f"pcscd did not start: {exc}")
            pytest.skip(f"pcscd did not start: {exc}")
        try:
            yield rig
        finally:
            rig.stop()


@pytest.fixture(scope="session")
def issuer_instance(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Issuer]:
    """An instance folder with a development issuer and the reader keyring."""
    instance = tmp_path_factory.mktemp("instance")
    store = issuer_store(instance, create_development=True)
    issuer = store.init()  # dev passphrase file
    (instance / "reader").mkdir(parents=True, exist_ok=True)
    # What `kentcard issuer export-public` gives readers: card and offline-list keys.
    (instance / "reader" / "issuer-keys.json").write_text(json.dumps(store.export_public()))
    return instance, issuer


@pytest.fixture
def card_state(issuer_instance: tuple[Path, Issuer], tmp_path: Path) -> Path:
    _, issuer = issuer_instance
    path = tmp_path / "card.json"
    card = VirtualKentCard.blank(issuer.personalisation_key.public_point, CardStateFile(path))
    personalise(
        KentCardSession(InProcessConnection(card)), issuer, CARD_NUMBER, date(2035, 1, 31), PIN
    )
    return path


@pytest.fixture
def served(pcscd: Pcscd, card_state: Path) -> Iterator[VpcdCard]:
    """The card in reader 0, served from this process."""
    card = VpcdCard(VirtualKentCard.from_file(CardStateFile(card_state))).start()
    try:
        yield card
    finally:
        card.stop()
        # Let pcscd notice the card has gone (it polls vpcd), so the next test starts clean.
        reader = PcscReader(READER)
        try:
            reader.wait_for_removal(3)
        except TransportError:
            pass
        finally:
            reader.reset()
