"""The one router in front of the Flask app for the fast paths (idservice/lean.py)."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from idservice.cards.lean import LeanTapEndpoint
from idservice.lean import ROUTER, LeanRouter
from idservice.oauth.lean import LeanTokenEndpoint
from idservice.partner_api.lean import LeanCheckEndpoint


def _chain(app: Flask) -> list[Any]:
    found, current = [], app.wsgi_app
    while current is not None:
        found.append(current)
        current = getattr(current, "wrapped", getattr(current, "app", None))
    return found


def test_one_router_holds_every_fast_path(app: Flask) -> None:
    routers = [wsgi for wsgi in _chain(app) if isinstance(wsgi, LeanRouter)]
    assert routers == [app.extensions[ROUTER]]
    kinds = [type(endpoint) for endpoint in routers[0].endpoints]
    assert kinds == [LeanTokenEndpoint, LeanTapEndpoint, LeanCheckEndpoint]


def test_each_endpoint_claims_only_its_own_paths(app: Flask) -> None:
    router: LeanRouter = app.extensions[ROUTER]
    claims = {
        path: [type(e).__name__ for e in router.endpoints if e.route(path) is not None]
        for path in (
            "/oauth/token",
            "/api/v1/taps",
            "/api/v1/checks/library/by-card-number",
            "/api/v1/checks/library/by-subject",
            "/api/v1/taps/",
            "/oauth/token/x",
            "/api/v1/checks/library/by-name",
            "/api/v1/me/entitlements",
        )
    }
    assert claims == {
        "/oauth/token": ["LeanTokenEndpoint"],
        "/api/v1/taps": ["LeanTapEndpoint"],
        "/api/v1/checks/library/by-card-number": ["LeanCheckEndpoint"],
        "/api/v1/checks/library/by-subject": ["LeanCheckEndpoint"],
        "/api/v1/taps/": [],
        "/oauth/token/x": [],
        "/api/v1/checks/library/by-name": [],
        "/api/v1/me/entitlements": [],
    }


def test_only_a_plain_post_is_looked_at(app: Flask, client: FlaskClient) -> None:
    """A GET or a query string goes straight to Flask: the view's own answer."""
    router: LeanRouter = app.extensions[ROUTER]
    looked: list[str] = []
    for endpoint in router.endpoints:
        real = endpoint.route

        def spy(path: str, real: Any = real) -> Any:
            looked.append(path)
            return real(path)

        endpoint.route = spy  # type: ignore[method-assign]
    try:
        assert client.get("/api/v1/taps").status_code == 405
        assert client.post("/api/v1/taps?x=1", json={}).status_code == 401
        assert looked == []
        assert client.post("/api/v1/taps", json={}).status_code == 401
        assert looked == ["/api/v1/taps", "/api/v1/taps"]  # the token path, then the taps
    finally:
        for endpoint in router.endpoints:
            del endpoint.route  # type: ignore[method-assign]
