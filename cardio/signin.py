"""Card + PIN sign-in at a library PC or kiosk: the reader's side.

The browser shows a sign-in code; the kiosk's registered reader fetches the server's
challenge for that code, the resident types the PIN, the card checks it (VERIFY) and only
then signs ``LABEL_SIGN_IN || challenge || card data`` (INTERNAL AUTHENTICATE, P2 01).
The reader sends the SELECT answer and the signature back; the server verifies them and
signs the browser in. The PIN never leaves the reader and the card; the server learns that
it was verified because the card would not have signed otherwise.

The kiosk gives the card the reader station's deadlines (:mod:`cardio.deadline`;
docs/card-protocol.md, "Deadlines"): each attempt on the card (connect, SELECT, VERIFY,
INTERNAL AUTHENTICATE, disconnect) is one job on a card worker, each call within the APDU
deadline and all of them within ``SIGN_IN_DEADLINES`` times it. A card that does not
answer, answers something that is not a response APDU, or a status word the sign-in
cannot use, is refused with the station's code and words
(:class:`cardio.station.CardFault`: "card did not answer: tap again"); the resident takes
the card out and puts it back, and types the PIN again, up to ``SIGN_IN_TAPS`` taps.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cardio import spec
from cardio.apdu import ApduError, sw_text
from cardio.connection import CardConnection, CardReader, TransportError
from cardio.deadline import DEFAULT_APDU_DEADLINE, CardJob, CardWorker, TapClock
from cardio.errors import InvalidPinError, KentCardError, MalformedResponseError, PinBlockedError
from cardio.online import OnlineDecisionError, OnlineDecisionSource
from cardio.session import KentCardSession
from cardio.station import CardFault
from cardio.verify import Reason, TapRejected

logger = logging.getLogger(__name__)

SCOPE = "card-sign-in:write"
#: A sign-in attempt asks the card for three APDUs: SELECT, VERIFY, INTERNAL AUTHENTICATE.
SIGN_IN_DEADLINES = 3
#: Taps one sign-in gives a card that does not answer properly before it gives up.
SIGN_IN_TAPS = 3


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
        try:
            challenge = bytes.fromhex(str(answer["challenge"]))
        except (KeyError, ValueError):
            challenge = b""
        if len(challenge) != spec.CHALLENGE_LENGTH:
            raise OnlineDecisionError("the service did not answer a challenge")
        return challenge

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


@dataclass(frozen=True)
class RefusedTap:
    """A tap the card did not finish: the reader's code and words for it
    (:class:`~cardio.station.CardFault`), the APDUs sent, and how long it took."""

    code: str
    words: str
    apdu_count: int
    elapsed_ms: float

    def describe(self) -> str:
        return f"{self.code}: {self.words} ({self.apdu_count} APDUs, {self.elapsed_ms:.1f} ms)"


class _Refused(Exception):
    def __init__(self, refused: RefusedTap) -> None:
        super().__init__(refused.describe())
        self.refused = refused


@dataclass(frozen=True)
class SignInResult:
    """How a sign-in ended: ``signed_in`` when the server accepted the card; ``refused``
    lists the taps the card did not finish, in order."""

    signed_in: bool
    refused: tuple[RefusedTap, ...] = ()


def _fault(error: Exception) -> tuple[str, str] | None:
    """(code, words) for a card that did not finish an attempt, or None for an error that
    is not the card's fault to retry: the card's own answer (wrong PIN, not a Kent Card,
    not issued...), or pcscd and the reader (:class:`TransportError`)."""
    fault = CardFault.of(error)
    if fault is not None:
        return fault.code, fault.words
    if isinstance(error, KentCardError | TapRejected | MalformedResponseError | TransportError):
        return None
    if isinstance(error, ApduError):  # a status word the sign-in cannot use
        return CardFault.CARD_ERROR.code, CardFault.CARD_ERROR.words.format(sw=sw_text(error.sw))
    logger.error("sign-in attempt failed", exc_info=error)  # a fault of the reader itself
    return CardFault.ERROR.code, CardFault.ERROR.words


class KioskSignIn:
    """The kiosk's reader signing browsers in, one code at a time (:meth:`run`).

    ``card_wait``: seconds to wait for the card to be put in, or taken out after a tap the
    card did not finish; ``apdu_deadline``: seconds the card gets for each call, a sign-in
    attempt ``SIGN_IN_DEADLINES`` times that in all.
    """

    def __init__(
        self,
        reader: CardReader,
        service: OnlineSignIn,
        card_wait: float = 30.0,
        apdu_deadline: float = DEFAULT_APDU_DEADLINE,
        taps: int = SIGN_IN_TAPS,
    ) -> None:
        if apdu_deadline <= 0:
            raise ValueError("the APDU deadline must be positive")
        if taps < 1:
            raise ValueError("a sign-in gives the card at least one tap")
        self.reader = reader
        self.service = service
        self.card_wait = card_wait
        self.apdu_deadline = apdu_deadline
        self.taps = taps
        self.worker = CardWorker("sign-in-card")

    def _sign(self, pin: str, challenge: bytes) -> SignInEvidence:
        """One attempt on the card in the reader, within the deadlines.

        Raises what :func:`sign_with_card` raises for a card that answered, :class:`_Refused`
        for a card that did not finish, and :class:`TransportError` when pcscd or the
        reader failed.
        """
        started = time.perf_counter()
        clock = TapClock(self.apdu_deadline, SIGN_IN_DEADLINES)
        job = CardJob(self.reader.connect, lambda card: sign_with_card(card, pin, challenge), clock)
        abandoned = self.worker.abandoned
        try:
            return job.run(self.worker)
        except Exception as exc:
            fault = _fault(exc)
            if fault is None:
                raise
            elapsed_ms = round((time.perf_counter() - started) * 1000, 2)
            raise _Refused(RefusedTap(*fault, job.apdu_count, elapsed_ms)) from exc
        finally:
            if self.worker.abandoned != abandoned:
                # A call is still blocked on the card: it ends on its own thread once the
                # card leaves the field; the reader starts afresh.
                self.reader.reset()

    def run(
        self,
        code: str,
        ask_pin: Callable[[], str],
        say: Callable[[str], None],
        on_event: Callable[[str], None] = lambda event: None,
    ) -> SignInResult:
        """The whole sign-in for ``code``: challenge, card, PIN (asked again while tries are
        left, and for each new tap), signature, answer. Every outcome is said in words
        for the kiosk screen (``say``); what the reader saw goes to ``on_event``."""
        refused: list[RefusedTap] = []
        try:
            challenge = self.service.challenge(code)
        except OnlineDecisionError as exc:
            say(f"sign-in not started: {exc}")
            return SignInResult(False)
        try:
            for tap in range(self.taps):
                if tap and not self._within_card_wait(self.reader.wait_for_removal):
                    say("not signed in: the card was not taken out of the reader: start again")
                    break
                on_event(f"put the Kent Card in {self.reader.name}")
                if not self._within_card_wait(self.reader.wait_for_card):
                    say(
                        f"not signed in: no card in {self.reader.name} within "
                        f"{self.card_wait:g} s: start again"
                    )
                    break
                try:
                    signed_in = self._with_card(code, challenge, ask_pin, say)
                except _Refused as failed:
                    refused.append(failed.refused)
                    on_event(f"tap refused: {failed.refused.describe()}")
                    if len(refused) < self.taps:
                        say(failed.refused.words)
                    continue
                return SignInResult(signed_in, tuple(refused))
            else:
                say(
                    f"not signed in: the card did not answer properly {self.taps} times: "
                    "start again, or take the card to a Gateway or library"
                )
        except OnlineDecisionError as exc:
            say(f"not signed in: {exc}")
        except TransportError as exc:  # pcscd or the reader went away
            say(f"not signed in: {exc}: start again")
        return SignInResult(False, tuple(refused))

    def _within_card_wait(self, wait: Callable[[float], bool]) -> bool:
        """``wait`` until it is true or ``card_wait`` has passed (a reader's wait may end
        early, on any change of the reader's state)."""
        ends = time.monotonic() + self.card_wait
        while (left := ends - time.monotonic()) > 0:
            if wait(left):
                return True
        return False

    def _with_card(
        self, code: str, challenge: bytes, ask_pin: Callable[[], str], say: Callable[[str], None]
    ) -> bool:
        """PIN and signature with the card in the reader; True when the server accepted it.
        Raises :class:`_Refused` when the card did not finish an attempt."""
        while True:
            pin = ask_pin()
            try:
                spec.pin_block(pin)
            except ValueError as exc:  # a PIN that is not 4 to 8 digits: no try spent
                say(str(exc))
                continue
            try:
                evidence = self._sign(pin, challenge)
            except (InvalidPinError, PinBlockedError) as exc:
                say(str(exc))
                self.service.report(code, exc)
                if isinstance(exc, PinBlockedError) or exc.tries_left == 0:
                    return False
                continue
            except (TapRejected, KentCardError, MalformedResponseError) as exc:
                say(f"not signed in: {exc}")
                return False
            try:
                say(self.service.answer(code, evidence))
            except OnlineDecisionError as exc:
                say(f"not signed in: {exc}")
                return False
            return True
