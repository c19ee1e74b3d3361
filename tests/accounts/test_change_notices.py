"""The old address is told about sensitive changes, and can undo an email change.

Whoever changes an account's email address can reset its password through the new one; the
notice to the old address carries a link that puts it back for 7 days, once, and only while
nothing has changed since.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous.timed import TimestampSigner
from sqlalchemy import select

from idservice.db import db_session
from idservice.models import (
    AuditRecord,
    OutboundEmail,
    PasskeyCredential,
    Resident,
    ResidentSession,
)
from idservice.models.base import utcnow
from idservice.models.oauth import OAuthToken
from idservice.services import accounts, email_undo
from tests.accounts.conftest import csrf_from, in_app, link_in, submit, text
from tests.factories import DEFAULT_PASSWORD, sign_in_client
from tests.oauth.conftest import make_rp

WEEK = 7 * 24 * 3600


def _actions(app: Flask, resident_id: str) -> list[tuple[str, dict[str, Any]]]:
    with in_app(app):
        rows = db_session.scalars(
            select(AuditRecord)
            .where(AuditRecord.resident_id == resident_id)
            .order_by(AuditRecord.id)
        )
        return [(r.action, dict(r.details or {})) for r in rows]


def change_email(client: FlaskClient, outbox: Any, new: str) -> None:
    """Ask for the change and follow the link sent to the new address."""
    before = len(outbox("change_email"))
    assert submit(client, "/account/change/email", {"email": new}).status_code == 302
    confirm = outbox("change_email")[before:]
    assert len(confirm) == 1
    assert client.get(link_in(confirm[0])).status_code == 200


@pytest.fixture
def signed_in(
    app: Flask, client: FlaskClient, make_resident: Callable[..., Resident]
) -> tuple[Resident, ResidentSession]:
    resident = make_resident(email="owner@example.com")
    return resident, sign_in_client(app, client, resident)


def _undo_link(outbox: Any) -> str:
    [notice] = outbox("email_changed", recipient="owner@example.com")
    assert "owner@example.com" not in notice.body_text
    return link_in(notice)


def _press(client: FlaskClient, link: str) -> Any:
    page = client.get(link)
    assert page.status_code == 200, text(page)
    return client.post(link, data={"csrf_token": csrf_from(page)})


# --- notices ----------------------------------------------------------------------------


def test_old_address_is_told_of_an_email_change_with_an_undo_link(
    app: Flask,
    client: FlaskClient,
    signed_in: tuple[Resident, ResidentSession],
    outbox: Any,
    reload: Callable[[str], Resident],
) -> None:
    resident, _ = signed_in
    change_email(client, outbox, "taken-over@example.net")
    assert reload(resident.id).email == "taken-over@example.net"
    link = _undo_link(outbox)
    assert link.startswith("/undo-email-change/")
    assert outbox("email_changed", recipient="taken-over@example.net") == []


def test_old_address_is_told_of_a_phone_change(
    client: FlaskClient, signed_in: tuple[Resident, ResidentSession], outbox: Any
) -> None:
    assert submit(client, "/account/change/phone", {"phone": "07700900123"}).status_code == 302
    assert [m.recipient for m in outbox("phone_changed")] == ["owner@example.com"]
    assert "07700900123" not in outbox("phone_changed")[0].body_text


def test_a_phone_change_by_staff_is_told_too(
    app: Flask, make_resident: Callable[..., Resident], outbox: Any
) -> None:
    """Staff in the console are already authenticated; the resident still hears of it."""
    resident = make_resident(email="helped@example.com")
    with in_app(app):
        accounts.update_details(
            resident.id,
            {"phone": "07700900456"},
            actor_type="staff",
            actor_id="staff-1",
            channel="staff-assisted",
            reason="Resident phoned",
        )
    assert [m.recipient for m in outbox("phone_changed")] == ["helped@example.com"]


def test_other_sensitive_changes_tell_the_address(
    app: Flask,
    client: FlaskClient,
    signed_in: tuple[Resident, ResidentSession],
    outbox: Any,
) -> None:
    new = "An0ther-long-passphrase"
    changed = submit(
        client,
        "/account/change/password",
        {"current_password": DEFAULT_PASSWORD, "password": new, "password_confirm": new},
    )
    assert changed.status_code == 302
    assert [m.recipient for m in outbox("password_changed")] == ["owner@example.com"]
    closed = submit(client, "/account/close", {"password": new})
    assert closed.status_code == 302
    assert [m.recipient for m in outbox("account_closed")] == ["owner@example.com"]


# --- undo -------------------------------------------------------------------------------


def test_undo_restores_the_address_signs_out_everywhere_and_starts_a_reset(
    app: Flask,
    client: FlaskClient,
    signed_in: tuple[Resident, ResidentSession],
    outbox: Any,
    reload: Callable[[str], Resident],
) -> None:
    resident, first = signed_in
    change_email(client, outbox, "taken-over@example.net")
    elsewhere = sign_in_client(app, app.test_client(), resident)
    rp = make_rp(app)
    with in_app(app):
        db_session.add(
            OAuthToken(
                jti="undo-test",
                client_id=rp.client_id,
                resident_id=resident.id,
                scope="openid",
                access_expires_at=utcnow() + timedelta(minutes=10),
            )
        )
        db_session.commit()
    link = _undo_link(outbox)
    reader = app.test_client()  # the owner, in their own mail, not signed in
    response = _press(reader, link)
    assert response.status_code == 302 and response.headers["Location"] == "/email-change-undone"
    assert "changed back" in text(reader.get("/email-change-undone"))
    stored = reload(resident.id)
    assert stored.email == "owner@example.com"
    assert stored.password_hash is None  # whoever changed it cannot sign in with it
    with in_app(app):
        sessions = db_session.scalars(
            select(ResidentSession).where(ResidentSession.resident_id == resident.id)
        ).all()
        assert {s.id for s in sessions} >= {first.id, elsewhere.id}
        assert all(s.ended_at is not None for s in sessions)
        tokens = db_session.scalars(select(OAuthToken)).all()
        assert tokens and all(t.revoked_at is not None for t in tokens)
    assert client.get("/account").status_code == 302  # the taken-over browser is out
    [reset] = outbox("reset_password")
    assert reset.recipient == "owner@example.com"
    new = "Ch0sen-again-passphrase"
    done = submit(client, link_in(reset), {"password": new, "password_confirm": new})
    assert done.status_code in (200, 302), text(done)
    assert reload(resident.id).password_hash is not None
    actions = _actions(app, resident.id)
    assert (
        "email.change_undone",
        {"fields": ["email", "email_verified_at", "password_hash"]},
    ) in actions


def test_undo_works_once(
    client: FlaskClient,
    signed_in: tuple[Resident, ResidentSession],
    outbox: Any,
    reload: Callable[[str], Resident],
    app: Flask,
) -> None:
    change_email(client, outbox, "taken-over@example.net")
    link = _undo_link(outbox)
    reader = app.test_client()
    page = reader.get(link)
    assert _press(reader, link).status_code == 302
    replay = reader.post(link, data={"csrf_token": csrf_from(page)})
    assert replay.status_code == 400
    assert reader.get(link).status_code == 400
    assert "has expired or has already been used" in text(reader.get(link))
    assert len(outbox("reset_password")) == 1


def _age_undo_links(monkeypatch: pytest.MonkeyPatch, seconds: int) -> None:
    """Make undo links look ``seconds`` older when they are checked."""
    real = TimestampSigner.get_timestamp

    def later(self: TimestampSigner) -> int:
        now = real(self)
        return now + seconds if b"undo-email-change" in self.salt else now

    monkeypatch.setattr(TimestampSigner, "get_timestamp", later)


def test_undo_works_for_seven_days(
    app: Flask,
    client: FlaskClient,
    signed_in: tuple[Resident, ResidentSession],
    outbox: Any,
    reload: Callable[[str], Resident],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    change_email(client, outbox, "taken-over@example.net")
    link = _undo_link(outbox)
    _age_undo_links(monkeypatch, WEEK - 60)
    assert _press(app.test_client(), link).status_code == 302
    assert reload(signed_in[0].id).email == "owner@example.com"


def test_undo_fails_after_seven_days(
    app: Flask,
    client: FlaskClient,
    signed_in: tuple[Resident, ResidentSession],
    outbox: Any,
    reload: Callable[[str], Resident],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    change_email(client, outbox, "taken-over@example.net")
    link = _undo_link(outbox)
    _age_undo_links(monkeypatch, WEEK + 1)
    response = app.test_client().get(link)
    assert response.status_code == 400
    assert reload(signed_in[0].id).email == "taken-over@example.net"


def test_undo_fails_after_a_later_change(
    app: Flask,
    client: FlaskClient,
    signed_in: tuple[Resident, ResidentSession],
    outbox: Any,
    reload: Callable[[str], Resident],
) -> None:
    resident, _ = signed_in
    change_email(client, outbox, "second@example.net")
    first_link = _undo_link(outbox)
    change_email(client, outbox, "third@example.net")
    assert app.test_client().get(first_link).status_code == 400
    assert reload(resident.id).email == "third@example.net"


def test_undo_fails_after_changing_away_and_back_to_the_same_address(
    app: Flask,
    client: FlaskClient,
    signed_in: tuple[Resident, ResidentSession],
    outbox: Any,
    reload: Callable[[str], Resident],
) -> None:
    """The link is bound to one change, not only to the address it changed to."""
    resident, _ = signed_in
    change_email(client, outbox, "second@example.net")
    first_link = _undo_link(outbox)
    change_email(client, outbox, "third@example.net")
    change_email(client, outbox, "second@example.net")
    assert app.test_client().get(first_link).status_code == 400
    assert reload(resident.id).email == "second@example.net"


def test_undo_when_the_old_address_was_taken_since(
    app: Flask,
    client: FlaskClient,
    signed_in: tuple[Resident, ResidentSession],
    outbox: Any,
    make_resident: Callable[..., Resident],
    reload: Callable[[str], Resident],
) -> None:
    resident, _ = signed_in
    change_email(client, outbox, "taken-over@example.net")
    link = _undo_link(outbox)
    make_resident(email="owner@example.com")
    response = _press(app.test_client(), link)
    assert response.status_code == 409
    assert "call the contact centre" in text(response).lower()
    assert reload(resident.id).email == "taken-over@example.net"


def test_forged_or_foreign_links_are_refused(app: Flask) -> None:
    reader = app.test_client()
    assert reader.get("/undo-email-change/not-a-token").status_code == 400
    assert reader.get("/undo-email-change/" + "x" * 3000).status_code == 400
    with in_app(app):
        assert email_undo.pending_undo("") is None
        assert db_session.scalars(select(OutboundEmail)).all() == []


def test_undo_removes_every_second_factor(
    app: Flask,
    client: FlaskClient,
    signed_in: tuple[Resident, ResidentSession],
    outbox: Any,
    reload: Callable[[str], Resident],
) -> None:
    """Whoever made the change may have added their own app or passkey, even just before."""
    resident, _ = signed_in
    with in_app(app):
        db_session.add(
            PasskeyCredential(
                resident_id=resident.id, credential_id=b"added-before", public_key=b"key"
            )
        )
        db_session.commit()
    change_email(client, outbox, "taken-over@example.net")
    with in_app(app):
        stored = db_session.get(Resident, resident.id)
        assert stored is not None
        stored.totp_secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
        stored.totp_enabled_at = utcnow()
        db_session.commit()
    assert _press(app.test_client(), _undo_link(outbox)).status_code == 302
    after = reload(resident.id)
    assert after.totp_enabled_at is None and after.totp_secret is None
    with in_app(app):
        assert db_session.scalars(select(PasskeyCredential)).all() == []
    [(_, details)] = [a for a in _actions(app, resident.id) if a[0] == "email.change_undone"]
    assert details == {
        "fields": ["email", "email_verified_at", "password_hash", "totp_secret", "passkeys"]
    }
