"""Helpers for the resident journeys: real pages, real forms, real CSRF tokens.

Tests never hold an app context while making requests (Flask would share ``g`` between
requests); data is set up and read back inside short ``with app.app_context()`` blocks.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from idservice.db import db_session
from idservice.models import Base, OutboundEmail, Resident, SignInFailure
from tests.factories import create_resident

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
LINK = re.compile(r"http://127\.0\.0\.1:5000(/\S+)")


def csrf_from(response: TestResponse) -> str:
    match = CSRF.search(response.get_data(as_text=True))
    assert match, "no CSRF token on the page"
    return match.group(1)


def submit(
    client: FlaskClient, url: str, data: dict[str, Any], *, page: str | None = None
) -> TestResponse:
    """Fetch the page, take its CSRF token and post the form as a browser would."""
    page_response = client.get(page or url)
    assert page_response.status_code == 200, page_response.status_code
    return client.post(url, data={**data, "csrf_token": csrf_from(page_response)})


def text(response: TestResponse) -> str:
    return response.get_data(as_text=True)


@contextmanager
def in_app(app: Flask) -> Iterator[None]:
    with app.app_context():
        try:
            yield
        finally:
            db_session.remove()


def client_at(app: Flask, address: str) -> FlaskClient:
    """A browser whose requests come from ``address``."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def age_failures(app: Flask, seconds: float) -> None:
    """Move every recorded sign-in failure ``seconds`` into the past."""
    with in_app(app):
        for row in db_session.scalars(select(SignInFailure)):
            row.created_at = row.created_at - timedelta(seconds=seconds)
        db_session.commit()


@pytest.fixture
def make_resident(app: Flask) -> Callable[..., Resident]:
    def make(**overrides: Any) -> Resident:
        with in_app(app):
            return create_resident(**overrides)

    return make


@pytest.fixture
def reload(app: Flask) -> Callable[[str], Resident]:
    """The resident as stored now."""

    def get(resident_id: str) -> Resident:
        with in_app(app):
            resident = db_session.get(Resident, resident_id)
            assert resident is not None
            db_session.expunge(resident)
            return resident

    return get


@pytest.fixture
def outbox(app: Flask) -> Callable[..., list[OutboundEmail]]:
    def get(template: str | None = None, recipient: str | None = None) -> list[OutboundEmail]:
        with in_app(app):
            query = select(OutboundEmail).order_by(OutboundEmail.id)
            if template:
                query = query.where(OutboundEmail.template == template)
            if recipient:
                query = query.where(OutboundEmail.recipient == recipient)
            rows = list(db_session.scalars(query))
            db_session.expunge_all()
            return rows

    return get


def link_in(message: OutboundEmail) -> str:
    match = LINK.search(message.body_text)
    assert match, "no link in the email"
    return match.group(1)


@pytest.fixture
def snapshot(app: Flask) -> Callable[[], dict[str, list[tuple[Any, ...]]]]:
    """Every row of every table, to show that a rejected form wrote nothing."""

    def take() -> dict[str, list[tuple[Any, ...]]]:
        with in_app(app):
            conn = db_session.connection()
            return {
                table.name: sorted(
                    (tuple(str(v) for v in row) for row in conn.execute(table.select())),
                )
                for table in Base.metadata.sorted_tables
            }

    return take
