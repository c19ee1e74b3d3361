"""Offline lists built from the card register: issued cards, the instance's snapshot key."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask

from cardio.issuer import Issuer
from cardio.snapshot import SnapshotKeyring, SnapshotStore
from hardware.virtual_card import VirtualKentCard
from idservice.cards import issuance
from idservice.cards.issuance import CounterActor
from idservice.cards.issuer_keys import issuer_store
from idservice.config import Settings
from idservice.models.cards import Card
from idservice.snapshots.build import Built, build_snapshots
from tests.accounts.conftest import in_app
from tests.cards.conftest import blank_card, grant, issuer, resident_and_actor
from tests.cards.test_issuance import issue_one
from tests.factories import create_resident, create_staff

__all__ = ["blank_card", "grant", "issuer", "resident_and_actor"]
NOW = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)


@pytest.fixture
def keyring(settings: Settings, issuer: Issuer) -> SnapshotKeyring:
    """What a reader gets from ``kentcard issuer export-public``."""
    return SnapshotKeyring.from_json(issuer_store(settings.instance_path).export_public())


IssueCard = Callable[..., tuple[Card, VirtualKentCard]]


@pytest.fixture
def issue_card(app: Flask, issuer: Issuer) -> IssueCard:
    """A resident with an active card and the given services on the ledger."""

    def issue(*services: str, **grant_overrides: Any) -> tuple[Card, VirtualKentCard]:
        with in_app(app):
            resident = create_resident()
            staff = create_staff()
            actor = CounterActor(staff.id, staff.role, "face-to-face", "new card")
            resident_id = resident.id
        for service in services:
            grant(app, resident_id, service, **grant_overrides)
        card = VirtualKentCard.blank(issuer.personalisation_key.public_point)
        return issue_one(app, actor, resident_id, card), card

    return issue


def build(app: Flask, *modes: str, now: datetime = NOW, keep: int = 48) -> list[Built]:
    with in_app(app):
        return build_snapshots(modes or ("library", "transport"), now=now, keep=keep)


def report(app: Flask, card: Card, why: str) -> None:
    with in_app(app):
        staff = create_staff()
        actor = CounterActor(staff.id, staff.role, "face-to-face", f"reported {why}")
        issuance.report_card(actor, card.id, why)


def reader(
    tmp_path_factory: pytest.TempPathFactory, mode: str, keyring: SnapshotKeyring
) -> SnapshotStore:
    return SnapshotStore(tmp_path_factory.mktemp("reader"), mode, keyring)
