"""Kent account and Kent Card identity service (Flask app factory)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask

from idservice import db, logsafe, sealed
from idservice.config import Settings, make_instance_folder
from idservice.request_input import BoundedJSONProvider, DecodableInput, refuse_nul_characters

__all__ = ["create_app"]


def create_app(settings: Settings | None = None, **overrides: Any) -> Flask:
    """Build the app.

    Configuration comes from ``KENTCARD_*`` environment variables (see ``config.py``);
    tests pass ``settings``. The app never creates tables: run ``kentcard db upgrade``.
    """
    settings = settings or Settings.from_env(**overrides)
    make_instance_folder(settings.instance_path)
    app = Flask(__name__, instance_path=str(settings.instance_path))
    app.json = BoundedJSONProvider(app)  # JSON bodies within limits (413/400 beyond)
    app.before_request(refuse_nul_characters)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        KENTCARD=settings,
        TESTING=settings.testing,
        SESSION_COOKIE_NAME="__Host-kentcard" if settings.secure_cookies else "kentcard",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
        # Bodies are bounded (413 beyond); JSON more tightly (idservice/request_input.py).
        MAX_CONTENT_LENGTH=settings.max_request_bytes,
        TEMPLATES_AUTO_RELOAD=False,
    )
    logsafe.configure_logging(app.logger)
    db.init_app(app, settings.database_url)
    from idservice.services import reevaluation

    reevaluation.install()  # every change of fact is decided again before it commits
    sealed.init_app(app, settings.secret_key, settings.secret_key_fallbacks)

    from idservice.web import setup as web_setup

    web_setup.init_app(app)
    # In front of the app and its lean paths: input Werkzeug could not decode is made so.
    app.wsgi_app = DecodableInput(app.wsgi_app)  # type: ignore[method-assign]
    if settings.proxy_hops > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # Outermost, so every path (the lean token path too) sees the client's scheme,
        # host and address as the proxy received them.
        hops = settings.proxy_hops
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops
        )
    return app
