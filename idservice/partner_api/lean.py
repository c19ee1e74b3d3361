"""A lean WSGI path for the partner checks, ``POST /api/v1/checks/<service>/by-...``.

Bus operators' and leisure centres' systems ask "is this card entitled?" at every gate
and till. Through Flask and flask-smorest (request context, routing, webargs and
marshmallow, the ORM session) a check costs several times what answering it does, so the
plain, well-formed check is answered here on the WSGI environ, with the same rules as the
view (``idservice.partner_api.views`` and ``checks``):

* the bearer token's signature is checked once and its claims kept until it expires
  (:func:`idservice.oauth.tokens.verified_claims`), the scope and the service as the view
  checks them, the partner's registration from the same client cache, the same rate limit;
* one statement says whether the partner's client is still active and its token not
  revoked, and finds the card or subject with the resident's state for the service and
  their consent for this partner (:func:`idservice.partner_api.dao.dao_lean_lookup`);
* the query log row and the audit record are written together (one statement on
  PostgreSQL), as the view writes them.

Anything else goes to the view untouched, with its body: other paths and methods, a query
string, a body that is not a JSON object with exactly the one field (within the JSON
limits of :mod:`idservice.request_input`), a token that is not a current service token
with the service's check scope, an unknown service, a partner withdrawn, a revoked token,
and a resident who agreed to share more with this partner (the view adds the subject or
the name). A partner over its rate limit is refused here (429 ``rate_limited``) once its
token is found good, with the view's own error through the API's one error renderer
(:mod:`idservice.api_errors`). tests/partner_api/test_lean_checks.py sends
the same checks through both paths and compares the answers.
"""

from __future__ import annotations

import logging
import re
from datetime import date
from typing import TYPE_CHECKING, Any

from cardio.cardnumber import has_valid_check_digit
from idservice.api_errors import ApiError
from idservice.db import LeanConnection, lean_database
from idservice.lean import Fallback, LeanJsonEndpoint, service_token_claims
from idservice.models.base import utcnow
from idservice.oauth import scopes
from idservice.partner_api import checks, dao, views
from idservice.partner_api.schemas import (
    CARD_NUMBER_PATTERN,
    CHECK_RESULT_SCHEMA,
    SUBJECT_PATTERN,
)
from idservice.request_input import InputRefused, JsonLimits, parse_json

if TYPE_CHECKING:
    from flask import Flask

log = logging.getLogger(__name__)

#: ``/api/v1/checks/<service>/by-card-number`` or ``.../by-subject``: (service, by).
PATH = re.compile(r"/api/v1/checks/([a-z0-9-]{1,64})/by-(card-number|subject)")
FIELDS = {"card-number": ("card_number", re.compile(CARD_NUMBER_PATTERN)),
          "subject": ("subject", re.compile(SUBJECT_PATTERN))}  # fmt: skip


class LeanCheckEndpoint(LeanJsonEndpoint):
    """A plain partner check, else the wrapped app."""

    def __init__(self, app: Flask, wrapped: Any) -> None:
        super().__init__(app, wrapped, no_store=True)  # as the blueprint's hook
        #: On PostgreSQL every statement stands alone: one read, then one INSERT of both
        #: rows; on SQLite the two INSERTs share a transaction.
        self.database = lean_database(app)
        self.json_limits = JsonLimits.of(app.config["KENTCARD"])

    def route(self, path: str) -> tuple[str, str] | None:
        matched = PATH.fullmatch(path)
        return (matched[1], matched[2]) if matched else None

    def answer(self, environ: dict[str, Any], route: Any, body: bytes) -> bytes:
        service, by = route
        return self._check(environ, service, by, body)

    def _check(self, environ: dict[str, Any], service: str, by: str, body: bytes) -> bytes:
        if service not in views.service_codes():
            raise Fallback
        claims = service_token_claims(environ, scopes.check_scope(service))
        field, pattern = FIELDS[by]
        try:
            sent = parse_json(body, self.json_limits)
        except (ValueError, InputRefused):
            raise Fallback from None
        value = sent.get(field) if isinstance(sent, dict) and len(sent) == 1 else None
        if not isinstance(value, str) or pattern.fullmatch(value) is None:
            raise Fallback
        try:
            partner = views.partner_for(str(claims["client_id"]))
        except ApiError:
            raise Fallback from None
        allowed = views.within_rate_limit(partner.client_id)
        environ[views.RATE_COUNTED] = allowed  # if the view answers, it is not counted again
        if not allowed:
            with LeanConnection(self.database) as connection:
                good, _found = dao.dao_lean_lookup(
                    connection, client_id=partner.client_id, jti=str(claims["jti"]), service=service
                )
            if not good:
                raise Fallback  # the view answers 401 first
            raise views.rate_limited()
        today = date.today()
        card_number = value if by == "card-number" else None
        if card_number is not None and not has_valid_check_digit(card_number):
            card_number = None  # a wrong check digit is on no card: looked up as nobody
        with LeanConnection(self.database) as connection:
            good, found = dao.dao_lean_lookup(
                connection,
                client_id=partner.client_id,
                jti=str(claims["jti"]),
                service=service,
                card_number=card_number,
                sector=partner.sector,
                subject=value if by == "subject" else None,
            )
            if not good:
                raise Fallback  # the view answers 401 for a withdrawn client or token
            entitled, reason, valid_until = checks.decide(found, today)
            if found is not None and reason != "card_not_valid" and found.consent_scope:
                raise Fallback  # the view adds what the resident agreed to share
            dao.dao_lean_record_check(
                connection,
                at=utcnow(),
                client_id=partner.client_id,
                client_name=partner.name,
                resident_id=found.resident_id if found else None,
                service=service,
                looked_up_by="card_number" if by == "card-number" else "subject",
                entitled=entitled,
                result=reason,
            )
            connection.commit()
        log.debug("partner check answered: %s", reason)
        answer = checks.CheckResult(service, entitled, reason, valid_until)
        return self.json(CHECK_RESULT_SCHEMA.dump(answer))


def install(app: Flask) -> None:
    """Put the lean path in front of the Flask app (tests can take it out again)."""
    app.wsgi_app = LeanCheckEndpoint(app, app.wsgi_app)  # type: ignore[method-assign]
