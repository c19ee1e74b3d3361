"""Pruning expired sign-in failures, tokens, codes and card sign-in challenges
(idservice.services.maintenance, ``kentcard maintenance prune``)."""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import func, select

from idservice.cli import main
from idservice.db import db_session
from idservice.models import AuditRecord
from idservice.models.base import utcnow
from idservice.models.cards import CardSignIn
from idservice.models.oauth import AuthorizationCode, OAuthToken
from idservice.models.residents import SignInFailure
from idservice.services.maintenance import prune
from tests.factories import create_resident
from tests.oauth.conftest import make_rp
from tests.oauth.test_cli import cli, run

__all__ = ["cli"]

DAY = timedelta(days=1)


class World:
    """Rows of each kind, stale (expired days ago) and kept (live or within the grace)."""

    def __init__(self, app: Flask) -> None:
        now = self.now = utcnow()
        self.client_id = make_rp(app).client_id
        self.resident_id = create_resident().id
        add = db_session.add
        self.failures = {
            # The per-account ceiling counts failures for 30 days by default.
            "stale": SignInFailure(account_key="a", created_at=now - 33 * DAY),
            "recent": SignInFailure(account_key="a", created_at=now - timedelta(minutes=5)),
        }
        self.codes = {name: self._code(now - age) for name, age in (
            ("stale", 3 * DAY),  # nothing issued from it
            ("of a dead family", 40 * DAY),
            ("of a live family", 40 * DAY),
            ("in grace", timedelta(hours=1)),
        )}  # fmt: skip
        for row in (*self.failures.values(), *self.codes.values()):
            add(row)
        db_session.flush()
        dead, live = secrets.token_hex(8), secrets.token_hex(8)
        self.tokens = {
            "expired service token": self._token(now - 3 * DAY),
            "live service token": self._token(now + timedelta(minutes=5)),
            "in grace": self._token(now - timedelta(hours=1)),
            # A refresh family: its first issue spent and expired, the latest still usable.
            "live family, spent": self._token(
                now - 30 * DAY, now - 2 * DAY, live, self.codes["of a live family"]
            ),
            "live family, latest": self._token(now - DAY, now + 28 * DAY, live),
            "dead family, first": self._token(
                now - 40 * DAY, now - 10 * DAY, dead, self.codes["of a dead family"]
            ),
            "dead family, last": self._token(now - 12 * DAY, now - 3 * DAY, dead),
        }
        self.challenges = {
            "stale": self._challenge(now - 3 * DAY),
            "pending": self._challenge(now + timedelta(minutes=2)),
        }
        for row in (*self.tokens.values(), *self.challenges.values()):
            add(row)
        db_session.commit()
        self.ids = {
            (model, name): row.id
            for model, rows in (
                (SignInFailure, self.failures),
                (AuthorizationCode, self.codes),
                (OAuthToken, self.tokens),
                (CardSignIn, self.challenges),
            )
            for name, row in rows.items()
        }

    def _code(self, expired: datetime) -> AuthorizationCode:
        return AuthorizationCode(
            code_hash=secrets.token_hex(32),
            client_id=self.client_id,
            resident_id=self.resident_id,
            redirect_uri="https://library.example.org/callback",
            scope="openid",
            auth_time=expired - timedelta(minutes=2),
            acr="urn:kentcard:acr:password",
            amr=["pwd"],
            expires_at=expired,
            used_at=expired - timedelta(seconds=30),
        )

    def _token(
        self,
        access_expires: datetime,
        refresh_expires: datetime | None = None,
        family: str | None = None,
        code: AuthorizationCode | None = None,
    ) -> OAuthToken:
        return OAuthToken(
            jti=secrets.token_hex(16),
            client_id=self.client_id,
            resident_id=self.resident_id if family else None,
            scope="openid",
            issued_at=access_expires - timedelta(minutes=10),
            access_expires_at=access_expires,
            refresh_token_hash=secrets.token_hex(32) if family else None,
            refresh_expires_at=refresh_expires,
            family_id=family,
            authorization_code_id=code.id if code else None,
        )

    def _challenge(self, expires: datetime) -> CardSignIn:
        return CardSignIn(
            code=secrets.token_hex(4),
            browser_hash=secrets.token_hex(32),
            challenge=secrets.token_bytes(16),
            expires_at=expires,
        )

    def left(self) -> dict[str, set[str]]:
        """Which of the rows are still there, by kind and name."""
        db_session.expire_all()

        def kept(model: Any) -> set[str]:
            there = set(db_session.scalars(select(model.id)))
            return {
                name for (kind, name), id_ in self.ids.items() if kind is model and id_ in there
            }

        return {
            "failures": kept(SignInFailure),
            "codes": kept(AuthorizationCode),
            "tokens": kept(OAuthToken),
            "challenges": kept(CardSignIn),
        }


KEPT = {
    "failures": {"recent"},
    "codes": {"of a live family", "in grace"},
    "tokens": {
        "live service token",
        "in grace",
        "live family, spent",
        "live family, latest",
    },
    "challenges": {"pending"},
}


def test_prune_removes_what_nothing_depends_on_and_audits_it(app_ctx: Flask) -> None:
    world = World(app_ctx)
    report = prune(app_ctx.config["KENTCARD"], world.now)
    assert world.left() == KEPT
    assert report.as_dict() == {
        "sign_in_failures": 1,
        "tokens": 3,
        "authorization_codes": 2,  # the unused one and the dead family's
        "card_sign_ins": 1,
    }
    (record,) = db_session.scalars(
        select(AuditRecord).where(AuditRecord.action == "maintenance.pruned")
    )
    assert record.resident_id is None and record.details["tokens"] == 3
    # Run again: nothing more to do.
    assert prune(app_ctx.config["KENTCARD"], world.now).total == 0


def test_a_dry_run_counts_and_keeps_everything(app_ctx: Flask) -> None:
    world = World(app_ctx)
    before = world.left()
    report = prune(app_ctx.config["KENTCARD"], world.now, dry_run=True)
    assert report.total == 7
    assert world.left() == before
    audited = select(func.count()).where(AuditRecord.action == "maintenance.pruned")
    assert db_session.scalar(audited) == 0


def test_a_longer_grace_keeps_more(app_ctx: Flask) -> None:
    world = World(app_ctx)
    prune(app_ctx.config["KENTCARD"], world.now, grace=timedelta(days=5))
    left = world.left()
    assert "stale" in left["codes"] and "stale" in left["challenges"]
    assert "dead family, last" in left["tokens"]


def test_a_negative_grace_is_refused(app_ctx: Flask) -> None:
    with pytest.raises(ValueError, match="negative"):
        prune(app_ctx.config["KENTCARD"], utcnow(), grace=timedelta(hours=-1))


def test_the_command_prints_counts(app: Flask, cli: CliRunner) -> None:
    with app.app_context():
        World(app)
    counts = json.loads(run(cli, "maintenance", "prune", "--dry-run", "--json"))
    assert counts == {
        "authorization_codes": 2,
        "card_sign_ins": 1,
        "dry_run": True,
        "sign_in_failures": 1,
        "tokens": 3,
    }
    assert "Removed 1 sign-in failure(s), 3 token(s)" in run(cli, "maintenance", "prune")
    refused = cli.invoke(main, ["maintenance", "prune", "--grace-hours", "-1"])
    assert refused.exit_code == 2 and "--grace-hours" in refused.output
