"""A lean WSGI path for the partner checks, ``POST /api/v1/checks/<service>/by-...``.

Bus operators' and leisure centres' systems ask "is this card entitled?" at every gate
and till. Through Flask and flask-smorest (request context, routing, webargs and
marshmallow, the ORM session) a check costs several times what answering it does, so the
plain, well-formed check is answered here on the WSGI environ, by the same use case as the
view (:func:`idservice.partner_api.checks.answer_check`) over a store of its own
(:class:`LeanCheckStore`), after the same admission (:mod:`idservice.partner_api.access`):

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
and a check whose answer includes what a resident agreed to share with this partner (the
view adds the subject or the name). The partner's check is counted against its rate limit
only once the lean path knows it answers it, so a check handed to the view is counted
once, there; over the limit it is refused here (429 ``rate_limited``), with the view's own
error through the API's one error renderer (:mod:`idservice.api_errors`).
tests/partner_api/test_lean_checks.py sends the same checks through both paths and
compares the answers.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from idservice.api_errors import ApiError
from idservice.db import LeanConnection, lean_database
from idservice.lean import Fallback, LeanJsonEndpoint, service_token_claims
from idservice.lean import install as install_endpoint
from idservice.oauth import scopes
from idservice.partner_api import access, checks, dao
from idservice.partner_api.schemas import (
    CARD_NUMBER_PATTERN,
    CHECK_RESULT_SCHEMA,
    SUBJECT_PATTERN,
)
from idservice.request_input import InputRefused, JsonLimits, parse_json

if TYPE_CHECKING:
    from flask import Flask

#: ``/api/v1/checks/<service>/by-card-number`` or ``.../by-subject``: (service, by).
PATH = re.compile(r"/api/v1/checks/([a-z0-9-]{1,64})/by-(card-number|subject)")
FIELDS = {"card-number": ("card_number", re.compile(CARD_NUMBER_PATTERN)),
          "subject": ("subject", re.compile(SUBJECT_PATTERN))}  # fmt: skip


class LeanCheckStore:
    """:class:`idservice.partner_api.checks.CheckStore` on a lean connection, for the
    partner's token ``jti``: the look-up also says whether the partner's client is still
    active and the token not revoked; when not, :class:`Fallback` (the view answers 401).
    What a resident agreed to share is left to the view (:class:`Fallback` too): it
    writes a subject and reads a name, in the view's transaction."""

    def __init__(self, connection: LeanConnection, jti: str) -> None:
        self.connection = connection
        self.jti = jti

    def find(
        self,
        partner: checks.Partner,
        service: str,
        *,
        card_number: str | None,
        subject: str | None,
    ) -> dao.Found | None:
        good, found = dao.dao_lean_lookup(
            self.connection,
            client_id=partner.client_id,
            jti=self.jti,
            service=service,
            card_number=card_number,
            sector=partner.sector if subject is not None else None,
            subject=subject,
        )
        if not good:
            raise Fallback
        return found

    def names(self, resident_id: str) -> tuple[str, str] | None:
        raise Fallback

    def remember_subject(self, sector: str, subject: str, resident_id: str) -> None:
        raise Fallback

    def record(self, values: dict[str, Any]) -> None:
        dao.dao_lean_record_check(self.connection, **values)


class LeanCheckEndpoint(LeanJsonEndpoint):
    """A plain partner check, answered by :func:`idservice.partner_api.checks.answer_check`."""

    def __init__(self, app: Flask) -> None:
        super().__init__(app, no_store=True)  # as the blueprint's hook
        #: On PostgreSQL every statement stands alone: one read, then one INSERT of both
        #: rows; on SQLite the two INSERTs share a transaction.
        self.database = lean_database(app)
        self.json_limits = JsonLimits.of(app.config["KENTCARD"])

    def route(self, path: str) -> tuple[str, str] | None:
        matched = PATH.fullmatch(path)
        return (matched[1], matched[2]) if matched else None

    def answer(self, environ: dict[str, Any], route: Any, body: bytes) -> bytes:
        service, by = route
        if service not in access.service_codes():
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
            partner = access.partner_for(str(claims["client_id"]))
        except ApiError:
            raise Fallback from None
        with LeanConnection(self.database) as connection:
            result = checks.answer_check(
                LeanCheckStore(connection, str(claims["jti"])),
                partner,
                service,
                card_number=value if by == "card-number" else None,
                subject=value if by == "subject" else None,
                admit=access.admit,
            )
            connection.commit()
        return self.json(CHECK_RESULT_SCHEMA.dump(result))


def install(app: Flask) -> None:
    """Give partner checks a fast path in front of the Flask app (tests can take it out
    again)."""
    install_endpoint(app, LeanCheckEndpoint(app))
