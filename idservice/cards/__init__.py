"""Kent Cards: issuing at the counter, the card register and online tap decisions.

Owns the ``cards``, ``card_number_counters``, ``taps`` and ``readers`` tables. Staff views
and the command line call :mod:`idservice.cards.issuance`; readers call ``POST
/api/v1/taps`` (:mod:`idservice.cards.api`) and, for taps decided offline and their own
state, ``POST /api/v1/taps/batch`` and ``POST /api/v1/readers/status``
(:mod:`idservice.cards.fleet_api`, :mod:`idservice.cards.offline`,
:mod:`idservice.cards.fleet`). Must not import the staff console or the web pages.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cardio.connection import CardConnection, CardRemovedError

if TYPE_CHECKING:
    from flask import Flask

COUNTER_READER_KEY = "kentcard_counter_reader"
CounterReader = Callable[[], CardConnection]


def pcsc_counter_reader(name: str | None) -> CounterReader:
    """The counter's PC/SC reader (production): the card must be in it within 5 s."""

    def connect() -> CardConnection:
        from cardio.pcsc import PcscReader

        reader = PcscReader(name)
        if not reader.wait_for_card(5.0):
            raise CardRemovedError(f"no card in {reader.name}: put a blank card in the reader")
        return reader.connect()

    return connect


def counter_reader(app: Flask) -> CounterReader:
    """The factory the issue page connects through; tests replace it with a virtual card."""
    return app.extensions[COUNTER_READER_KEY]  # type: ignore[no-any-return]


def _reader_scheme(issuer: str) -> dict[str, Any]:
    from idservice.oauth import scopes

    return {
        "type": "oauth2",
        "description": "A registered reader's access token (client credentials).",
        "flows": {
            "clientCredentials": {
                "tokenUrl": f"{issuer}/oauth/token",
                "scopes": {
                    name: scopes.SCOPES[name].description
                    for name in ("taps:write", "card-sign-in:write", "snapshots:read")
                },
            }
        },
    }


def init_app(app: Flask) -> None:
    from idservice.cards.api import bp
    from idservice.cards.fleet_api import bp as fleet_bp
    from idservice.cards.signin_api import bp as sign_in_bp
    from idservice.openapi import api_for

    settings = app.config["KENTCARD"]
    app.extensions.setdefault(
        COUNTER_READER_KEY, pcsc_counter_reader(settings.counter_reader or None)
    )
    api = api_for(app)
    api.spec.components.security_scheme("reader", _reader_scheme(settings.issuer))
    api.register_blueprint(bp)
    api.register_blueprint(sign_in_bp)
    api.register_blueprint(fleet_bp)
    from idservice.cards.lean import install as install_lean_tap_path

    install_lean_tap_path(app)
