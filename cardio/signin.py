"""Card + PIN sign-in at a library PC or kiosk: the reader's side.

The browser shows a sign-in code; the kiosk's registered reader fetches the server's
challenge for that code, the resident types the PIN, the card checks it (VERIFY) and only
then signs ``LABEL_SIGN_IN || challenge || card data`` (INTERNAL AUTHENTICATE, P2 01).
The reader sends the SELECT answer and the signature back; the server verifies them and
signs the browser in. The PIN never leaves the reader and the card; the server learns that
it was verified because the card would not have signed otherwise.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cardio import spec
from cardio.connection import CardConnection, TransportError
from cardio.errors import InvalidPinError, KentCardError, MalformedResponseError, PinBlockedError
from cardio.online import OnlineDecisionError, OnlineDecisionSource
from cardio.session import KentCardSession
from cardio.verify import Reason, TapRejected

SCOPE = "card-sign-in:write"


@dataclass(frozen=True)
class SignInEvidence:
    """What the card said: sent to the server to sign the browser in."""

    select_answer: bytes
    signature: bytes
    card_number: str | None


def sign_with_card(connection: CardConnection, pin: str, challenge: bytes) -> SignInEvidence:
    """SELECT, VERIFY the PIN, then the PIN-gated signature over the server's challenge.

    Raises :class:`~cardio.errors.InvalidPinError` (``tries_left``),
    :class:`~cardio.errors.PinBlockedError`, :class:`TapRejected` for a card that was never
    finished, and the session's other errors.
    """
    if len(challenge) != spec.CHALLENGE_LENGTH:
        raise ValueError(f"challenge is {spec.CHALLENGE_LENGTH} bytes")
    session = KentCardSession(connection)
    if not session.info.locked:
        raise TapRejected(Reason.NOT_ISSUED)
    session.verify_pin(pin)
    signature = session.sign_in_authenticate(challenge)
    return SignInEvidence(session.info.raw, signature, session.info.card_number)


class OnlineSignIn(OnlineDecisionSource):
    """The identity service's ``/api/v1/card-sign-in/*`` as a reader device uses it."""

    scope = SCOPE

    def _call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self.token()}"}
        try:
            return self._post(path, json.dumps(body).encode(), headers)
        except OnlineDecisionError:
            self._token = None
            raise

    def challenge(self, code: str) -> bytes:
        answer = self._call("/api/v1/card-sign-in/challenge", {"code": code})
        return bytes.fromhex(str(answer["challenge"]))

    def answer(self, code: str, evidence: SignInEvidence) -> str:
        """Send the card's answer; returns the server's message for the screen."""
        answer = self._call(
            "/api/v1/card-sign-in/answer",
            {
                "code": code,
                "select_answer": evidence.select_answer.hex(),
                "signature": evidence.signature.hex(),
            },
        )
        return str(answer.get("message", ""))

    def report(self, code: str, error: Exception) -> None:
        """Tell the browser why the card did not sign (wrong PIN, PIN blocked)."""
        body: dict[str, Any] = {"code": code}
        if isinstance(error, InvalidPinError):
            body.update(error="wrong_pin", sw=f"{error.sw:04X}")
        elif isinstance(error, PinBlockedError):
            body.update(error="pin_blocked", sw=f"{error.sw:04X}")
        else:
            return
        self._call("/api/v1/card-sign-in/report", body)


def run_sign_in(
    connect: Callable[[], CardConnection],
    service: OnlineSignIn,
    code: str,
    ask_pin: Callable[[], str],
    say: Callable[[str], None],
) -> bool:
    """The kiosk reader's whole sign-in: challenge, PIN (asked again while tries are left),
    signature, answer. True when the server accepted the card; every outcome is said."""
    try:
        challenge = service.challenge(code)
    except OnlineDecisionError as exc:
        say(f"sign-in not started: {exc}")
        return False
    connection = connect()
    try:
        while True:
            pin = ask_pin()
            try:
                evidence = sign_with_card(connection, pin, challenge)
            except ValueError as exc:  # a PIN that is not 4 to 8 digits: no try spent
                say(str(exc))
                continue
            except (InvalidPinError, PinBlockedError) as exc:
                say(str(exc))
                service.report(code, exc)
                if isinstance(exc, PinBlockedError) or exc.tries_left == 0:
                    return False
                continue
            try:
                say(service.answer(code, evidence))
            except OnlineDecisionError as exc:
                say(f"not signed in: {exc}")
                return False
            return True
    except OnlineDecisionError as exc:
        say(f"not signed in: {exc}")
        return False
    except (TapRejected, KentCardError, MalformedResponseError) as exc:
        say(f"not signed in: {exc}")
        return False
    finally:
        with contextlib.suppress(TransportError):
            connection.disconnect()
