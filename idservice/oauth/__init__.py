"""The OpenID Connect provider: residents sign in once to every council and partner service.

``init_app`` is called by :mod:`idservice.web.setup`. See docs/oidc.md for the protocol
surface; this package owns the ``oauth_*`` tables and imports nothing from the accounts
pages beyond the session helpers in :mod:`idservice.auth`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from idservice.oauth.keys import KeyStore

if TYPE_CHECKING:
    from flask import Flask

__all__ = ["init_app"]


def init_app(app: Flask) -> None:
    from idservice.oauth import account_views, views
    from idservice.oauth.clients import create_demo_client
    from idservice.oauth.server import build_server

    app.extensions["kentcard_oauth_keys"] = KeyStore(
        app.extensions["kentcard_engine"], app.config["KENTCARD"]
    )
    from idservice.oauth.lean import install as install_lean_token_path

    build_server(app)
    install_lean_token_path(app)
    app.register_blueprint(views.bp)
    app.register_blueprint(account_views.bp)
    app.extensions.setdefault("kentcard_demo_hooks", []).append(create_demo_client)
