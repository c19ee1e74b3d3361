"""The kiosk reader's sign-in over real HTTP (what ``kentcard reader sign-in`` runs)."""

from __future__ import annotations

import requests
from flask import Flask

from cardio.signin import OnlineSignIn, run_sign_in
from hardware.virtual_card import InProcessConnection
from tests.cards.conftest import PIN
from tests.cards.test_issuance import issue_one
from tests.oauth.conftest import make_rp


def test_reader_sign_in_with_a_wrong_pin_then_the_right_one(
    app: Flask, live_server, blank_card, resident_and_actor
) -> None:
    resident_id, actor = resident_and_actor
    card = blank_card()
    issue_one(app, actor, resident_id, card)
    kiosk = make_rp(
        app,
        name="Kiosk",
        redirect_uris=[],
        grant_types=["client_credentials"],
        scope="card-sign-in:write",
    )
    browser = requests.Session()
    page = browser.get(f"{live_server.url}/sign-in/card")
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    waiting = browser.post(f"{live_server.url}/sign-in/card", data={"csrf_token": token})
    code = waiting.text.split('<strong class="kc-code">')[1].split("<")[0]

    said: list[str] = []
    pins = iter(["0000", PIN])
    service = OnlineSignIn(live_server.url, kiosk.client_id, kiosk.client_secret or "")
    accepted = run_sign_in(
        lambda: InProcessConnection(card), service, code, lambda: next(pins), said.append
    )
    assert accepted, said
    assert said[0] == "63C2 wrong PIN, 2 tries left: wrong PIN, 2 tries left"
    assert said[1] == "Card and PIN accepted: continue on the screen"
    done = browser.get(f"{live_server.url}/sign-in/card/wait")  # Continue, or a reload
    assert done.url == f"{live_server.url}/account"
    assert "Kent Card" in browser.get(f"{live_server.url}/account/activity").text

    # The code is spent: a second run is refused by the service, not signed in again.
    again = run_sign_in(lambda: InProcessConnection(card), service, code, lambda: PIN, said.append)
    assert not again and "already been used" in said[-1]
