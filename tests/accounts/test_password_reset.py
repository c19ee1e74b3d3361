"""Resetting a forgotten password: no enumeration, single-use links, sessions ended."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from idservice.db import db_session
from idservice.models import Resident, ResidentSession
from tests.accounts.conftest import in_app, link_in, submit, text
from tests.factories import DEFAULT_PASSWORD, sign_in_client

NEW = "a brand new passphrase"


def test_same_page_whether_or_not_the_address_has_an_account(
    client: FlaskClient, make_resident: Callable[..., Resident], outbox: Callable[..., Any]
) -> None:
    resident = make_resident()
    known = submit(client, "/forgot-password", {"email": resident.email})
    unknown = submit(client, "/forgot-password", {"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 302
    assert known.headers["Location"] == unknown.headers["Location"]
    page = text(client.get(known.headers["Location"]))
    assert "If there is a Kent account for the address you gave" in page
    assert [m.recipient for m in outbox()] == [resident.email]


def test_reset_link_sets_a_new_password_and_ends_every_session(
    app: Flask,
    client: FlaskClient,
    make_resident: Callable[..., Resident],
    outbox: Callable[..., Any],
) -> None:
    resident = make_resident()
    other_browser = app.test_client()
    sign_in_client(app, other_browser, resident)
    submit(client, "/forgot-password", {"email": resident.email})
    link = link_in(outbox("reset_password")[0])
    response = submit(client, link, {"password": NEW, "password_confirm": NEW})
    assert response.headers["Location"] == "/reset-password/done"
    assert other_browser.get("/account").status_code == 302
    with in_app(app):
        assert all(s.ended_at is not None for s in db_session.scalars(select(ResidentSession)))
    assert outbox("password_changed")
    old = submit(client, "/sign-in", {"email": resident.email, "password": DEFAULT_PASSWORD})
    assert old.status_code == 400
    new = submit(client, "/sign-in", {"email": resident.email, "password": NEW})
    assert new.status_code == 302


def test_reset_link_works_once(
    client: FlaskClient, make_resident: Callable[..., Resident], outbox: Callable[..., Any]
) -> None:
    resident = make_resident()
    submit(client, "/forgot-password", {"email": resident.email})
    link = link_in(outbox("reset_password")[0])
    submit(client, link, {"password": NEW, "password_confirm": NEW})
    response = client.get(link)
    assert response.status_code == 400
    assert "This link has expired or has already been used" in text(response)


def test_reset_link_for_one_purpose_cannot_confirm_an_email(
    client: FlaskClient, make_resident: Callable[..., Resident], outbox: Callable[..., Any]
) -> None:
    resident = make_resident(email_confirmed=False)
    submit(client, "/forgot-password", {"email": resident.email})
    token = link_in(outbox("reset_password")[0]).rsplit("/", 1)[1]
    assert client.get(f"/confirm-email/{token}").status_code == 400


def test_reset_ends_the_wait(
    client: FlaskClient, make_resident: Callable[..., Resident], outbox: Callable[..., Any]
) -> None:
    resident = make_resident()
    for _ in range(5):
        submit(client, "/sign-in", {"email": resident.email, "password": "wrong password here"})
    submit(client, "/forgot-password", {"email": resident.email})
    submit(client, link_in(outbox("reset_password")[0]), {"password": NEW, "password_confirm": NEW})
    assert submit(client, "/sign-in", {"email": resident.email, "password": NEW}).status_code == 302
