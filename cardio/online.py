"""Deciding taps online: the identity service's ``POST /api/v1/taps``.

The reader is a registered OAuth client (client_credentials, scope ``taps:write``); its
access token is kept until shortly before it expires. The tap itself (SELECT answer,
challenge, signature) is sent so the service checks the card again with the issuer's keys
and the live hotlist: a card reported lost is refused on its next tap.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import date
from typing import Any

from cardio.decision import Decision, Mode
from cardio.verify import TapEvidence

TOKEN_MARGIN = 30.0  # seconds: renew before the service would refuse the token
TIMEOUT = 5.0


class OnlineDecisionError(RuntimeError):
    """The decision service could not be reached or refused the reader.

    ``error`` is the service's error code (``stale_challenge``, ``replayed_tap``...) when it
    answered one, else ``None``.
    """

    def __init__(self, message: str, error: str | None = None) -> None:
        super().__init__(message)
        self.error = error


#: Refusals of the tap itself (not of the reader or the network): shown with their code.
TAP_REFUSALS = ("stale_challenge", "replayed_tap", "unprocessable_tap")


class OnlineDecisionSource:
    #: The scope this client's token is asked for (a sign-in reader asks for its own).
    scope = "taps:write"

    def __init__(self, base_url: str, client_id: str, client_secret: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.client_id = client_id
        self.client_secret = client_secret
        self._token: str | None = None
        self._expires = 0.0

    def _post(
        self, path: str, body: bytes, headers: dict[str, str], timeout: float = TIMEOUT
    ) -> dict[str, Any]:
        request = urllib.request.Request(  # noqa: S310 - the URL is the configured service
            self.base_url + path, data=body, headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                answer = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            error = None
            try:
                problem = json.loads(exc.read())
                detail = problem.get("message") or exc.reason
                error = problem.get("error")
            except (ValueError, AttributeError):
                detail = exc.reason
            raise OnlineDecisionError(
                f"{path} answered {exc.code}: {detail}", error if isinstance(error, str) else None
            ) from None
        except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
            raise OnlineDecisionError(f"decision service unreachable: {exc}") from None
        if not isinstance(answer, dict):
            raise OnlineDecisionError(f"{path} did not answer a JSON object")
        return answer

    def token(self) -> str:
        """A client_credentials access token, reused until it is about to expire."""
        if self._token is not None and time.monotonic() < self._expires:
            return self._token
        basic = base64.b64encode(
            f"{urllib.parse.quote(self.client_id)}:{urllib.parse.quote(self.client_secret)}".encode()
        ).decode()
        answer = self._post(
            "/oauth/token",
            urllib.parse.urlencode(
                {"grant_type": "client_credentials", "scope": self.scope}
            ).encode(),
            {
                "Authorization": f"Basic {basic}",
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        self._token = str(answer["access_token"])
        self._expires = time.monotonic() + float(answer.get("expires_in", 60)) - TOKEN_MARGIN
        return self._token

    def post_json(
        self, path: str, document: dict[str, Any], timeout: float = TIMEOUT
    ) -> dict[str, Any]:
        """POST ``document`` to ``path`` with the reader's token; a token the service no
        longer takes (``invalid_token``) is fetched afresh and the request sent once more.
        Raises :class:`OnlineDecisionError`."""
        body = json.dumps(document, separators=(",", ":")).encode()
        try:
            return self._post(path, body, self._bearer_headers(), timeout)
        except OnlineDecisionError as exc:
            if exc.error != "invalid_token":
                raise
        self._token = None  # revoked or expired early: one more try with a new token
        return self._post(path, body, self._bearer_headers(), timeout)

    def _bearer_headers(self) -> dict[str, str]:
        return {"Content-Type": "application/json", "Authorization": f"Bearer {self.token()}"}

    def decide(
        self,
        card_number: str,
        mode: Mode,
        today: date,
        evidence: TapEvidence | None = None,
        public_point: bytes | None = None,
    ) -> Decision:
        if evidence is None:
            return Decision(False, "no_evidence", "tap again: the card answer was not kept")
        body = json.dumps(
            {
                "select_answer": evidence.select_answer.hex(),
                "challenge": evidence.challenge.hex(),
                "signature": evidence.signature.hex(),
                "mode": str(mode),
            }
        ).encode()
        try:
            headers = {"Content-Type": "application/json"}
            answer = self._post(
                "/api/v1/taps", body, {**headers, "Authorization": f"Bearer {self.token()}"}
            )
        except OnlineDecisionError as exc:
            if exc.error in TAP_REFUSALS:  # the service refused this answer, not the reader
                return Decision(False, exc.error or "", f"refused online ({exc})")
            self._token = None  # a refused token is fetched afresh on the next tap
            return Decision(False, "offline", f"no online decision ({exc}): tap again")
        entitlement = answer.get("entitlement")
        return Decision(
            answer.get("decision") == "allow",
            str(answer.get("code", "")),
            str(answer.get("reason", "")),
            str(entitlement) if entitlement else None,
        )
