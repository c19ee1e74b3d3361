"""What the route fuzz test (tests/test_fuzz_routes.py) sends its requests from.

A small world on the test database: a resident with a Kent Card, an entitlement and a
connected service, two members of staff (a Gateway officer who has opened the resident's
record, and an administrator), a partner with client-credentials tokens and a relying
party with the resident's tokens. Its pages are then crawled as each identity, so the fuzz
test knows real URLs for every route's arguments (service codes, slugs, card ids...) and
every form's real field names and offered values, without a list kept by hand.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pyotp
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.exceptions import HTTPException
from werkzeug.routing import MapAdapter

from idservice.auth.levels import AMR_PASSWORD, acr_for
from idservice.db import db_session
from idservice.models.base import utcnow
from idservice.models.cards import Card
from idservice.models.residents import Resident, ResidentSession
from idservice.models.staff import StaffSession
from idservice.staff.permissions import Role
from tests.accounts.conftest import in_app
from tests.cards.conftest import grant
from tests.factories import create_staff
from tests.oauth.conftest import make_rp
from tests.partner_api.conftest import (
    LIBRARY,
    active_card,
    make_partner,
    new_resident,
    resident_tokens,
)

#: Scopes of the partner whose tokens reach the lean paths and the machine APIs.
PARTNER_SCOPE = f"{LIBRARY} taps:write card-sign-in:write cards:read"
#: Pages the crawl starts from; it follows every same-site link and form from there.
SEEDS = (
    "/",
    "/account",
    "/account/security",
    "/account/services",
    "/account/your-data",
    "/account/connected-services",
    "/staff/",
    "/staff/search",
    "/api/v1/docs",
    "/sign-in",
    "/register",
    "/forgot-password",
)
MAX_PAGES = 90


@dataclass
class Identity:
    """Who sends a request: a cookie session made afresh for each one."""

    name: str
    #: Session values (CSRF token, staff record access...) besides the signed-in id.
    make_session: Callable[[], dict[str, Any]]


@dataclass
class World:
    app: Flask
    csrf: str
    resident_id: str
    card_number: str
    #: Authorization headers worth sending (valid ones reach the deeper code).
    authorization: list[str]
    #: Values known to be real for OAuth parameters (client ids, tokens, URIs...).
    oauth: dict[str, list[str]]
    identities: dict[str, Identity] = field(default_factory=dict)
    #: endpoint -> the argument sets seen in real URLs of that route.
    args: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    #: endpoint -> field name -> the values the page offered (or a real value).
    fields: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    def add_fields(self, endpoint: str, values: dict[str, list[str]]) -> None:
        known = self.fields.setdefault(endpoint, {})
        for name, offered in values.items():
            merged = known.setdefault(name, [])
            merged.extend(v for v in offered if v not in merged)


class _Page(HTMLParser):
    """Links and forms (action, method, field names with the values offered)."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.forms: list[tuple[str, str, dict[str, list[str]]]] = []
        self._form: dict[str, list[str]] | None = None
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        elif tag == "form":
            self._form = {}
            self.forms.append((a.get("action", ""), a.get("method", "get").upper(), self._form))
        elif self._form is not None and tag in ("input", "textarea", "select", "button"):
            name = a.get("name")
            if not name:
                return
            values = self._form.setdefault(name, [])
            if a.get("value") and a["value"] not in values:
                values.append(a["value"])
            if tag == "select":
                self._select = name
        elif tag == "option" and self._form is not None and self._select:
            value = a.get("value", "")
            if value not in self._form[self._select]:
                self._form[self._select].append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None


def _match(adapter: MapAdapter, url: str, method: str) -> tuple[str, dict[str, Any]] | None:
    parts = urlsplit(url)
    if parts.scheme or parts.netloc or not parts.path.startswith("/"):
        return None
    try:
        endpoint, args = adapter.match(parts.path, method=method)
    except HTTPException:
        return None
    return str(endpoint), {k: str(v) for k, v in args.items()}


def crawl(world: World, clients: dict[str, FlaskClient]) -> None:
    """Visit the site as each identity and note every route's real arguments and forms."""
    adapter = world.app.url_map.bind("localhost")
    for name, client in clients.items():
        seen: set[str] = set()
        queue = list(SEEDS)
        if name.startswith("staff"):
            queue.insert(0, f"/staff/residents/{world.resident_id}")
        while queue and len(seen) < MAX_PAGES:
            url = queue.pop(0)
            path = urlsplit(url).path
            if url in seen or path.startswith("/static/") or "sign-out" in path:
                continue
            seen.add(url)
            matched = _match(adapter, url, "GET")
            if matched is None:
                continue
            world.args.setdefault(matched[0], []).append(matched[1])
            query = dict(parse_qsl(urlsplit(url).query))
            if query:
                world.add_fields(matched[0], {k: [v] for k, v in query.items()})
            response = client.get(url)
            if response.status_code != 200 or response.mimetype != "text/html":
                continue
            page = _Page()
            page.feed(response.get_data(as_text=True))
            queue.extend(link for link in page.links if link not in seen)
            for action, method, values in page.forms:
                target = _match(adapter, action or url, method)
                if target is not None:
                    world.args.setdefault(target[0], []).append(target[1])
                    world.add_fields(target[0], values)
    for endpoint, found in world.args.items():  # each argument set once, in order seen
        unique = {tuple(sorted(a.items())): a for a in found}
        world.args[endpoint] = list(unique.values())


def _resident_session(app: Flask, resident_id: str) -> str:
    with app.app_context():
        record = ResidentSession(
            id=secrets.token_urlsafe(32),
            resident_id=resident_id,
            acr=acr_for(AMR_PASSWORD),
            amr=list(AMR_PASSWORD),
            auth_time=utcnow(),
        )
        db_session.add(record)
        db_session.commit()
        return record.id


def _staff_session(app: Flask, staff_id: str) -> str:
    with app.app_context():
        record = StaffSession(id=secrets.token_urlsafe(32), staff_id=staff_id, auth_time=utcnow())
        db_session.add(record)
        db_session.commit()
        return record.id


def _session_of(client: FlaskClient) -> dict[str, Any]:
    with client.session_transaction() as sess:
        return dict(sess)


def build(app: Flask, client: FlaskClient) -> World:
    """The world, crawled (a minute's data: the test database is emptied afterwards)."""
    csrf = secrets.token_urlsafe(32)
    resident_id = new_resident(app, phone="03000414141")
    grant(app, resident_id, "library")
    card_number = active_card(app, resident_id)
    with in_app(app):
        officer = create_staff(role=Role.GATEWAY_OFFICER).id
        admin = create_staff(role=Role.ADMINISTRATOR).id
        resident = db_session.get(Resident, resident_id)
        card = db_session.query(Card).filter_by(card_number=card_number).one()
        card_id = str(card.id)
        db_session.expunge_all()
    partner = make_partner(app, "Fuzz partner", PARTNER_SCOPE, "fuzz.example")
    service_basic = partner.rp.basic["Authorization"]
    token = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": PARTNER_SCOPE},
        headers=partner.rp.basic,
    ).get_json()
    rp = make_rp(app, name="Fuzz library", scope="openid profile email entitlements")
    assert resident is not None
    own = resident_tokens(app, client, resident, rp, "openid profile email entitlements")
    authorization = [
        service_basic,
        rp.basic["Authorization"],
        f"Bearer {token['access_token']}",
        f"Bearer {own['access_token']}",
    ]
    oauth = {
        "client_id": [rp.client_id, partner.rp.client_id],
        "redirect_uri": [rp.redirect_uri],
        "post_logout_redirect_uri": ["https://library.example.org/signed-out"],
        "id_token_hint": [own["id_token"]],
        "token": [own["access_token"], own["refresh_token"], token["access_token"]],
        "refresh_token": [own["refresh_token"]],
        "scope": ["openid profile", PARTNER_SCOPE, LIBRARY],
        "grant_type": ["client_credentials", "authorization_code", "refresh_token"],
        "response_type": ["code"],
        "code_challenge_method": ["S256"],
        "code_challenge": ["E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"],
        "code_verifier": ["dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"],
        "token_type_hint": ["access_token", "refresh_token"],
        "card_number": [card_number],
        "mode": ["transport", "library", "leisure"],
    }
    world = World(app, csrf, resident_id, card_number, authorization, oauth)

    def plain() -> dict[str, Any]:
        return {"_csrf": csrf}

    def as_resident() -> dict[str, Any]:
        return {"_csrf": csrf, "sid": _resident_session(app, resident_id)}

    def half_signed_in() -> dict[str, Any]:  # between the password and the code pages
        pending = {"resident_id": resident_id, "at": int(time.time()), "next": "/account"}
        return {"_csrf": csrf, "mfa_pending": pending}

    staff_clients: dict[str, FlaskClient] = {}
    staff_sessions: dict[str, dict[str, Any]] = {}
    for name, staff_id in (("staff officer", officer), ("staff administrator", admin)):
        staff_client = app.test_client()
        with staff_client.session_transaction() as sess:
            sess["_csrf"] = csrf
            sess["staff_sid"] = _staff_session(app, staff_id)
        staff_client.post(
            f"/staff/residents/{resident_id}/open",
            data={"channel": "face-to-face", "reason": "Resident at the desk", "csrf_token": csrf},
        )
        staff_clients[name] = staff_client
        staff_sessions[name] = _session_of(staff_client)

    def as_staff(name: str, staff_id: str) -> Callable[[], dict[str, Any]]:
        def make() -> dict[str, Any]:
            return {**staff_sessions[name], "staff_sid": _staff_session(app, staff_id)}

        return make

    world.identities = {
        "anonymous": Identity("anonymous", plain),
        "resident": Identity("resident", as_resident),
        "half signed in": Identity("half signed in", half_signed_in),
        "staff officer": Identity("staff officer", as_staff("staff officer", officer)),
        "staff administrator": Identity(
            "staff administrator", as_staff("staff administrator", admin)
        ),
    }
    resident_client = app.test_client()
    with resident_client.session_transaction() as sess:
        sess.update(as_resident())
    anonymous = app.test_client()
    with anonymous.session_transaction() as sess:
        sess.update(plain())
    crawl(world, {"anonymous": anonymous, "resident": resident_client, **staff_clients})
    world.args.setdefault("staff.report_card", []).append(
        {"resident_id": resident_id, "card_id": card_id}
    )
    world.args.setdefault("staff.unblock_pin", []).append(
        {"resident_id": resident_id, "card_id": card_id}
    )
    _machine_fields(world, own)
    return world


def _machine_fields(world: World, own: dict[str, Any]) -> None:
    """The bodies of routes no page has a form for: OAuth endpoints and JSON APIs."""
    o = world.oauth
    world.add_fields(
        "oauth.token",
        {
            k: o[k]
            for k in (
                "grant_type",
                "scope",
                "refresh_token",
                "redirect_uri",
                "code_verifier",
                "client_id",
            )
        },
    )
    world.add_fields("oauth.token", {"code": [secrets.token_urlsafe(16)], "client_secret": ["x"]})
    for endpoint in ("oauth.introspect", "oauth.revoke"):
        world.add_fields(endpoint, {"token": o["token"], "token_type_hint": o["token_type_hint"]})
    authorize = {
        k: o[k]
        for k in (
            "client_id",
            "redirect_uri",
            "scope",
            "response_type",
            "code_challenge",
            "code_challenge_method",
        )
    }
    authorize.update(
        state=["s"],
        nonce=["n"],
        prompt=["login", "none", "consent"],
        max_age=["0", "300"],
        acr_values=["urn:kentcard:acr:high"],
        claims=['{"id_token": {"birthdate": null}}'],
    )
    world.add_fields("oauth.authorize", authorize)
    world.add_fields(
        "oauth.logout",
        {k: o[k] for k in ("id_token_hint", "post_logout_redirect_uri", "client_id")}
        | {"state": ["s"]},
    )
    hexes = ["00" * 16, "ab" * 8]
    world.add_fields(
        "cards_api.taps",
        {"select_answer": hexes, "challenge": hexes, "signature": hexes, "mode": o["mode"]},
    )
    for endpoint in ("partner_api.check_card_number", "partner_api.check_subject"):
        world.args.setdefault(endpoint, []).append({"service": "library"})
        world.add_fields(endpoint, {"card_number": o["card_number"], "subject": ["a" * 43]})
    for name in ("challenge", "answer", "report"):
        world.add_fields(
            f"card_sign_in_api.{name}",
            {
                "code": ["ABCD-1234"],
                "select_answer": hexes,
                "signature": hexes,
                "outcome": ["blocked"],
            },
        )
    passkey = {
        "id": ["AAAA"],
        "rawId": ["AAAA"],
        "type": ["public-key"],
        "response": ["x"],
        "authenticatorAttachment": ["platform"],
    }
    for endpoint in (
        "accounts.passkey_sign_in_verify",
        "accounts.passkey_register_verify",
        "accounts.step_up_passkey_verify",
    ):
        world.add_fields(endpoint, passkey)
    world.add_fields("accounts.sign_in_code", {"code": [pyotp.TOTP(pyotp.random_base32()).now()]})
    _ = own
