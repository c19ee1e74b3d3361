"""The card readers page: each reader's state as staff read it, and no resident's data."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from idservice.cards import fleet
from idservice.db import db_session
from idservice.models import StaffMember
from idservice.models.base import utcnow
from idservice.staff.reader_views import drift_words
from tests.accounts.conftest import in_app, text


@pytest.mark.parametrize(
    ("drift", "words"),
    [
        (None, "Not known"),
        (0, "Right"),
        (-999, "Right"),
        (2500, "2.5 s ahead"),
        (-59_000, "59.0 s behind"),
        (-3 * 60_000, "3 min behind"),
        (63 * 60_000, "63 min ahead"),
    ],
)
def test_drift_words(drift: int | None, words: str) -> None:
    assert drift_words(drift) == words


def test_the_page_shows_each_reader_s_state(
    app: Flask, staff_client: Callable[..., tuple[FlaskClient, StaffMember]]
) -> None:
    with in_app(app):
        bus = fleet.register_reader(
            name="Stagecoach bus 15623",
            mode="transport",
            location="Canterbury bus station",
            operator="Stagecoach South East",
            route="Triangle",
            vehicle="15623",
        )
        fleet.register_reader(name="Desk 1", mode="library", location="Maidstone library")
        heard = utcnow() - timedelta(hours=26)  # silent for more than a day
        report = fleet.ReaderReport("v41", 7, heard - timedelta(seconds=95))
        fleet.record_contact(bus.state.client_id, report, heard, recorded=50, flagged=2, refused=1)
        db_session.commit()
    client, _ = staff_client("transport-officer")
    response = client.get("/staff/readers")
    assert response.status_code == 200
    page = text(response)
    for words in (
        "Stagecoach South East",
        "Route Triangle",
        "Vehicle 15623",
        "v41",
        "2 min behind",
        "Clock wrong",
        "2 to follow up",
        "1 refused",
        "50 recorded",
        "Never",
        bus.state.client_id,
    ):
        assert words in page, words
    # Never heard from first, then the longest silent.
    assert page.index("Desk 1") < page.index("Stagecoach bus 15623")
    silent = re.search(r"Not heard from in the last 24 hours</dt>\s*<dd[^>]*>(\d+)<", page)
    assert silent is not None and silent.group(1) == "2"


def test_the_page_without_readers(
    staff_client: Callable[..., tuple[FlaskClient, StaffMember]],
) -> None:
    client, _ = staff_client("administrator")
    assert "No readers are registered" in text(client.get("/staff/readers"))
