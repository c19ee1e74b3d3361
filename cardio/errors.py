"""Domain errors a Kent Card session raises for the status words it understands.

Each keeps the status word; its message says what happened and what to do next, in words
a member of staff can act on.
"""

from __future__ import annotations

from cardio.apdu import ApduError, sw_text


class KentCardError(ApduError):
    """A status word the session understood."""

    advice = ""

    def __init__(self, sw: int, message: str) -> None:
        super().__init__(sw)
        self.message = message
        Exception.__init__(self, f"{sw_text(sw)}: {message}")


class NotAKentCardError(KentCardError):
    """SELECT found no Kent Card application (or its answer made no sense)."""

    def __init__(self, sw: int, detail: str = "") -> None:
        text = "not a Kent Card"
        super().__init__(sw, f"{text} ({detail})" if detail else text)


class InvalidPinError(KentCardError):
    def __init__(self, sw: int) -> None:
        self.tries_left = sw & 0x0F
        plural = "try" if self.tries_left == 1 else "tries"
        super().__init__(sw, f"wrong PIN, {self.tries_left} {plural} left")


class PinBlockedError(KentCardError):
    def __init__(self, sw: int = 0x6983) -> None:
        super().__init__(sw, "go to a Gateway or library to unblock it")


class PinNotVerifiedError(KentCardError):
    """The card refused to sign for a sign-in because VERIFY had not succeeded first."""

    def __init__(self, sw: int = 0x6982) -> None:
        super().__init__(sw, "the card needs the PIN before it signs in: enter the PIN")


class CardLockedError(KentCardError):
    def __init__(self, sw: int = 0x6985) -> None:
        super().__init__(sw, "card is locked: personalisation is closed, issue a new card")


class NotPersonalisedError(KentCardError):
    def __init__(self, sw: int = 0x6985) -> None:
        super().__init__(sw, "card is not personalised yet: finish issuing it at a Gateway")


class AdminAuthenticationError(KentCardError):
    def __init__(self, sw: int = 0x6982) -> None:
        super().__init__(
            sw, "the card refused the issuer's signature: check the personalisation key"
        )


class MalformedResponseError(Exception):
    """The card answered 9000 with data the reader cannot parse."""


class CardProtocolError(MalformedResponseError):
    """The card broke the exchange rules: more chained answers (61XX) or wrong-Le answers
    (6CXX) than the reader allows (``cardio.protocol``, docs/card-protocol.md)."""
