"""Issuing at the counter: numbers, personalisation confirmed by a tap, races, reports."""

from __future__ import annotations

import threading
from datetime import date

import pytest
from flask import Flask
from sqlalchemy import select

from cardio.cardnumber import has_valid_check_digit
from cardio.connection import CardRemovedError
from cardio.errors import AdminAuthenticationError
from cardio.issuer import Issuer
from cardio.verify import authenticate
from entitlements.ledger.tables import LEDGER_EVENTS
from hardware.virtual_card import InProcessConnection, VirtualKentCard
from idservice.cards import dao, issuance
from idservice.cards.decisions import decide
from idservice.cards.issuance import CounterActor
from idservice.db import db_session
from idservice.models import AuditRecord, Card
from tests.accounts.conftest import in_app
from tests.cards.conftest import PIN, TODAY, PulledOut, grant
from tests.factories import create_staff


def issue_one(app: Flask, actor: CounterActor, resident_id: str, card: VirtualKentCard) -> Card:
    with in_app(app):
        order = issuance.order_card(actor, resident_id, TODAY)
        return issuance.personalise_card(actor, order.id, InProcessConnection(card), PIN, TODAY)


def test_card_numbers_come_from_the_counter_under_the_prefix(app: Flask) -> None:
    with in_app(app):
        numbers = [dao.dao_next_card_number("982601") for _ in range(3)]
        db_session.commit()
    assert all(n.startswith("982601") and len(n) == 16 for n in numbers)
    assert all(has_valid_check_digit(n) for n in numbers)
    serials = [int(n[6:15]) for n in numbers]
    assert serials == [serials[0], serials[0] + 1, serials[0] + 2]


def test_issue_activates_a_card_that_taps(
    app: Flask, issuer: Issuer, blank_card, resident_and_actor
) -> None:
    resident_id, actor = resident_and_actor
    card = blank_card()
    issued = issue_one(app, actor, resident_id, card)
    assert issued.status == "active"
    verified, _ = authenticate(InProcessConnection(card), issuer.keyring(), TODAY)
    assert verified.card_number == issued.card_number
    with in_app(app):
        row = db_session.get(Card, issued.id)
        assert row is not None and row.public_key and row.certificate
        assert row.issued_by_staff_id == actor.staff_id
        actions = db_session.scalars(
            select(AuditRecord.action).where(AuditRecord.resident_id == resident_id)
        ).all()
        kinds = (
            db_session.execute(
                select(LEDGER_EVENTS.c.kind).where(LEDGER_EVENTS.c.resident == resident_id)
            )
            .scalars()
            .all()
        )
    assert "card.ordered" in actions and "card.issued" in actions
    assert kinds == ["card-issued"]


def test_a_card_pulled_out_half_way_is_spoiled_and_the_blank_runs_again_on_a_new_number(
    app: Flask, blank_card, resident_and_actor
) -> None:
    """Nothing half-issued stays: the order is spoiled (number burnt, never reused)."""
    resident_id, actor = resident_and_actor
    card = blank_card()
    with in_app(app):
        order = issuance.order_card(actor, resident_id, TODAY)
        with pytest.raises(CardRemovedError):
            issuance.personalise_card(actor, order.id, PulledOut(card, 5), PIN, TODAY)
    with in_app(app):
        spoiled = dao.dao_get_card(order.id)
        assert spoiled.status == "spoiled" and not spoiled.usable
        assert dao.dao_get_active_card(resident_id) is None
        again = issuance.order_card(actor, resident_id, TODAY)
        assert again.id != order.id and again.card_number > order.card_number
        done = issuance.personalise_card(actor, again.id, InProcessConnection(card), PIN, TODAY)
    assert done.status == "active"
    with in_app(app):
        statuses = sorted(
            (c.card_number, c.status) for c in dao.dao_get_cards_for_resident(resident_id)
        )
        assert statuses == [(order.card_number, "spoiled"), (again.card_number, "active")]
        spoils = db_session.scalars(
            select(AuditRecord).where(AuditRecord.action == "card.spoiled")
        ).all()
        assert [(r.details["card_id"], r.details["failure"]) for r in spoils] == [
            (order.id, "CardRemovedError")
        ]


def test_a_card_for_another_issuer_is_refused_and_nothing_is_written(
    app: Flask, issuer: Issuer, resident_and_actor
) -> None:
    """``issuer``: the instance has its own issuer (the test failed when run alone)."""
    resident_id, actor = resident_and_actor
    stranger = VirtualKentCard.blank(Issuer.generate().personalisation_key.public_point)
    with in_app(app):
        order = issuance.order_card(actor, resident_id, TODAY)
        with pytest.raises(AdminAuthenticationError):
            issuance.personalise_card(actor, order.id, InProcessConnection(stranger), PIN, TODAY)
        assert dao.dao_get_card(order.id).status == "spoiled"


def test_two_staff_issuing_at_once_give_exactly_one_active_card(
    app: Flask, blank_card, resident_and_actor
) -> None:
    resident_id, first = resident_and_actor
    with in_app(app):
        other = create_staff()
        second = CounterActor(other.id, other.role, "face-to-face", "new card")
        orders = [issuance.order_card(a, resident_id, TODAY) for a in (first, second)]
    assert orders[0].card_number != orders[1].card_number
    barrier = threading.Barrier(2)
    outcomes: list[object] = []

    def run(actor: CounterActor, order: Card) -> None:
        with in_app(app):
            card = blank_card()
            barrier.wait()
            try:
                outcomes.append(
                    issuance.personalise_card(
                        actor, order.id, InProcessConnection(card), PIN, TODAY
                    )
                )
            except issuance.CardRefused as exc:
                outcomes.append(exc)

    threads = [
        threading.Thread(target=run, args=pair)
        for pair in zip((first, second), orders, strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    refused = [o for o in outcomes if isinstance(o, issuance.IssuedElsewhere)]
    assert len(outcomes) == 2 and len(refused) == 1
    assert "Another member of staff issued a Kent Card" in str(refused[0])
    with in_app(app):
        statuses = sorted(c.status for c in dao.dao_get_cards_for_resident(resident_id))
    assert statuses == ["active", "spoiled"]


def test_a_second_card_is_refused_while_one_is_active(
    app: Flask, blank_card, resident_and_actor
) -> None:
    resident_id, actor = resident_and_actor
    issue_one(app, actor, resident_id, blank_card())
    with in_app(app), pytest.raises(issuance.AlreadyHasCard):
        issuance.order_card(actor, resident_id, TODAY)


def test_report_lost_then_replace_carries_the_entitlements_over(
    app: Flask, blank_card, resident_and_actor
) -> None:
    resident_id, actor = resident_and_actor
    grant(app, resident_id, "bus-pass-older")
    old = issue_one(app, actor, resident_id, blank_card())
    with in_app(app):
        assert decide(old.card_number, "transport", date.today()).allowed
        issuance.report_card(actor, old.id, "lost")
        refused = decide(old.card_number, "transport", date.today())
    assert not refused.allowed and refused.reason == "card reported lost"
    new = issue_one(app, actor, resident_id, blank_card())
    with in_app(app):
        entitled = decide(new.card_number, "transport", date.today())
        library = decide(new.card_number, "library", date.today())
        old_row = dao.dao_get_card(old.id)
        kinds = (
            db_session.execute(
                select(LEDGER_EVENTS.c.kind)
                .where(LEDGER_EVENTS.c.resident == resident_id)
                .order_by(LEDGER_EVENTS.c.seq)
            )
            .scalars()
            .all()
        )
    assert entitled.allowed and entitled.entitlement == "bus-pass-older"
    assert not library.allowed and library.code == "not_entitled"
    assert old_row.status == "replaced" and old_row.replaced_by_id == new.id
    assert decide_after(app, old.card_number).reason == "card reported lost"
    assert kinds == ["grant", "card-issued", "card-hotlisted", "card-issued"]


def decide_after(app: Flask, number: str):  # type: ignore[no-untyped-def]
    with in_app(app):
        return decide(number, "transport", date.today())


def test_a_card_with_another_key_under_a_registered_number_is_refused(
    app: Flask, issuer: Issuer, blank_card, resident_and_actor
) -> None:
    resident_id, actor = resident_and_actor
    issued = issue_one(app, actor, resident_id, blank_card())
    with in_app(app):
        other_key = bytes([4]) + bytes(64)
        outcome = decide(issued.card_number, "library", date.today(), other_key)
    assert outcome.code == "not_registered"
