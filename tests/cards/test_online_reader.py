"""The reader station deciding online over real HTTP: issue, lost, replace, library."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

from flask import Flask

from cardio.decision import Mode
from cardio.issuer import Issuer
from cardio.online import OnlineDecisionSource
from cardio.station import ReaderStation, TapOutcome
from cardio.taplog import TapLog
from cardio.verify import authenticate, challenge_time, new_challenge
from hardware.virtual_card import InProcessConnection, VirtualKentCard
from idservice.cards import issuance
from tests.accounts.conftest import in_app
from tests.cards.conftest import grant
from tests.cards.test_issuance import issue_one
from tests.oauth.conftest import make_rp


class OneCardReader:
    name = "Counter test reader"

    def __init__(self, card: VirtualKentCard) -> None:
        self.card = card

    def wait_for_card(self, timeout: float) -> bool:
        return True

    def wait_for_removal(self, timeout: float) -> bool:
        return True

    def connect(self) -> InProcessConnection:
        return InProcessConnection(self.card)

    def reset(self) -> None:
        pass


def tap(
    source: OnlineDecisionSource, issuer: Issuer, card: VirtualKentCard, mode: Mode, log: Path
) -> TapOutcome:
    station = ReaderStation(
        OneCardReader(card), issuer.keyring(), source, TapLog(log), mode, apdu_deadline=5.0
    )
    return station.tap()


def test_online_decisions_follow_the_card_register(
    app: Flask, live_server, issuer: Issuer, blank_card, resident_and_actor, tmp_path: Path
) -> None:
    resident_id, actor = resident_and_actor
    grant(app, resident_id, "bus-pass-older")
    grant(app, resident_id, "library")
    reader = make_rp(
        app,
        name="Bus reader",
        redirect_uris=[],
        grant_types=["client_credentials"],
        scope="taps:write",
    )
    source = OnlineDecisionSource(live_server.url, reader.client_id, reader.client_secret)
    log = tmp_path / "taps.jsonl"
    card = blank_card()
    old = issue_one(app, actor, resident_id, card)

    first = tap(source, issuer, card, Mode.TRANSPORT, log)
    assert first.decision == "allow" and first.entitlement == "bus-pass-older"

    with in_app(app):
        issuance.report_card(actor, old.id, "lost")
    started = time.monotonic()
    refused = tap(source, issuer, card, Mode.TRANSPORT, log)
    assert time.monotonic() - started < 1.0
    assert refused.decision == "deny" and refused.reason == "card reported lost"

    new_card = blank_card()
    issue_one(app, actor, resident_id, new_card)
    again = tap(source, issuer, new_card, Mode.TRANSPORT, log)
    assert again.decision == "allow"
    library = tap(source, issuer, new_card, Mode.LIBRARY, log)
    assert library.decision == "allow" and library.reason == "library member"


def test_a_reader_with_a_wrong_secret_gets_no_decision(
    app: Flask, live_server, issuer: Issuer, blank_card, resident_and_actor, tmp_path: Path
) -> None:
    resident_id, actor = resident_and_actor
    reader = make_rp(
        app,
        name="Bus reader",
        redirect_uris=[],
        grant_types=["client_credentials"],
        scope="taps:write",
    )
    card = blank_card()
    issue_one(app, actor, resident_id, card)
    source = OnlineDecisionSource(live_server.url, reader.client_id, "wrong secret")
    outcome = tap(source, issuer, card, Mode.TRANSPORT, tmp_path / "taps.jsonl")
    assert outcome.decision == "deny" and outcome.code == "offline"


def test_the_reader_shows_a_replayed_or_stale_answer_as_refused(
    app: Flask, live_server, issuer: Issuer, blank_card, resident_and_actor
) -> None:
    """The reader's own challenges carry its clock; the service refuses an answer it has
    decided before (``replayed_tap``) or one made too long ago (``stale_challenge``)."""
    resident_id, actor = resident_and_actor
    grant(app, resident_id, "library")
    reader = make_rp(
        app,
        name="Library",
        redirect_uris=[],
        grant_types=["client_credentials"],
        scope="taps:write",
    )
    source = OnlineDecisionSource(live_server.url, reader.client_id, reader.client_secret)
    card = blank_card()
    issue_one(app, actor, resident_id, card)
    keyring = issuer.keyring()

    verified, _ = authenticate(InProcessConnection(card), keyring, date.today())
    assert verified.evidence is not None
    assert abs(challenge_time(verified.evidence.challenge) - time.time()) < 5
    first = source.decide(verified.card_number, Mode.LIBRARY, date.today(), verified.evidence)
    assert first.allowed and first.reason == "library member"
    again = source.decide(verified.card_number, Mode.LIBRARY, date.today(), verified.evidence)
    assert not again.allowed and again.code == "replayed_tap"

    old, _ = authenticate(
        InProcessConnection(card), keyring, date.today(), new_challenge(time.time() - 120)
    )
    stale = source.decide(old.card_number, Mode.LIBRARY, date.today(), old.evidence)
    assert not stale.allowed and stale.code == "stale_challenge"
    assert "reader's clock" in stale.reason
