"""The resident's activity page names every card event in plain English."""

from __future__ import annotations

import pytest
from flask import Flask

from cardio.connection import CardRemovedError
from hardware.virtual_card import InProcessConnection
from idservice.cards import issuance
from idservice.services.activity import activity_for
from tests.accounts.conftest import in_app
from tests.cards.conftest import PIN, TODAY, PulledOut
from tests.cards.test_issuance import issue_one


def test_card_events_are_named_not_account_updated(
    app: Flask, blank_card, resident_and_actor
) -> None:
    resident_id, actor = resident_and_actor
    first = issue_one(app, actor, resident_id, blank_card())
    with in_app(app):
        issuance.report_card(actor, first.id, "stolen")
        order = issuance.order_card(actor, resident_id, TODAY)
        with pytest.raises(CardRemovedError):
            issuance.personalise_card(actor, order.id, PulledOut(blank_card(), 3), PIN, TODAY)
        again = issuance.order_card(actor, resident_id, TODAY)
        issuance.personalise_card(actor, again.id, InProcessConnection(blank_card()), PIN, TODAY)
        items = activity_for(resident_id)
    whats = [item.what for item in reversed(items) if item.what.startswith(("Kent", "Replace"))]
    assert "Account updated" not in [item.what for item in items]
    assert whats == [
        "Kent Card ordered",
        "Kent Card issued",
        "Kent Card reported stolen",
        "Kent Card ordered",
        "Kent Card spoiled while it was being made",
        "Kent Card ordered",
        "Replacement Kent Card issued",
    ]
    assert {item.who for item in items if item.what in whats} == {"A Gateway officer"}
