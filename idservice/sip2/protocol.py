"""One kiosk's SIP2 conversation: a frame in, a frame out, whatever the frame was.

:class:`Conversation` is what a connection of the server (:mod:`idservice.sip2.server`)
runs. Every frame gets an answer:

* a frame whose checksum does not add up, an unknown command, binary junk or a message
  that is too long: ``96`` (request SC resend), as SIP2 asks;
* a known command that cannot be read (fixed fields too short, a required field missing,
  a field without an identifier): that command's own answer in its "no" form, with the
  reason on the screen line (``AF``);
* once a kiosk has sent a checksum, a frame without one: ``96`` too (its trailer was
  damaged on the way);
* ``97`` (request ACS resend): the last answer again; a request repeated with the same
  sequence number: the last answer again, not asked a second time.

Before a login (``93``) only ``93`` and ``97`` are answered in full; ``99`` is answered
"offline" and a patron message "no", with "log in first". After
:data:`MAX_ERRORS_IN_A_ROW` unreadable frames or :data:`MAX_FAILED_LOGINS` failed logins
on one connection, :attr:`Conversation.closing` tells the server to hang up.

Item transactions (checkout, checkin, renew, renew all, item information) are the library
management system's: they are answered "no" with a screen line saying so (docs/sip2.md).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from idservice.sip2 import codec
from idservice.sip2.bridge import PatronAnswer
from idservice.sip2.codec import Request, Response
from idservice.sip2.kiosks import Kiosk

log = logging.getLogger("kentcard.sip2")

MAX_ERRORS_IN_A_ROW = 5
MAX_FAILED_LOGINS = 3
#: How often a logged-in kiosk's registration is looked at again (seconds).
RECHECK_EVERY = 60.0

#: SIP2 2.00 ``BX``: patron status, checkout, checkin, block patron, SC/ACS status,
#: resend, login, patron information, end patron session, fee paid, item information,
#: item status update, patron enable, hold, renew, renew all.
SUPPORTED = "YNNNYYYYYNNNNNNN"
PROTOCOL_VERSION = "2.00"
LOG_IN_FIRST = "Log in first (SIP2 message 93)"
ELSEWHERE = "Loans, returns and renewals are handled by the library system, not here"
UNAVAILABLE = "Kent Card checks are unavailable: try again shortly"
#: Patron status (14 characters): charge, renewal, recall and hold privileges denied.
DENIED = "YYYY" + " " * 10
DENIED_LOST = "YYYYY" + " " * 9
ALLOWED = " " * 14
UNKNOWN_COUNT = "    "  # SIP2: a count the ACS does not know is blank


class Backend(Protocol):
    """What a conversation needs from the service (the server runs it on its pool)."""

    def login(self, login: str, password: str, peer: str) -> Kiosk | None: ...

    def patron(self, kiosk: Kiosk, patron_id: str, password: str | None) -> PatronAnswer: ...

    def still_active(self, kiosk: Kiosk) -> bool: ...


@dataclass
class Limits:
    encoding: str = "utf-8"
    retries_allowed: int = 3
    timeout_period: int = 30  # tenths of a second, as ``98`` says it


class Conversation:
    def __init__(
        self,
        backend: Backend,
        peer: str = "",
        limits: Limits | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.backend = backend
        self.peer = peer
        self.limits = limits or Limits()
        self.clock = clock
        self.kiosk: Kiosk | None = None
        self.checked_at = 0.0
        self.closing = False
        self.error_detection = False
        self.errors_in_row = 0
        self.failed_logins = 0
        self.last_request: bytes | None = None
        self.last_answer: bytes | None = None

    # -- frames ------------------------------------------------------------------------

    def handle(self, frame: bytes) -> bytes:
        """The answer to one frame (without its carriage return)."""
        try:
            request = codec.parse(frame, self.limits.encoding)
        except codec.BadChecksum:
            return self._unreadable("checksum does not add up")
        except codec.Malformed as exc:
            command = frame[:2].decode("ascii", "replace")
            if command not in codec.LAYOUTS or command == "97":
                return self._unreadable(str(exc))
            # A command we know, with a good trailer (parse checks it first): its own
            # "no", with the reason on the screen.
            self._unreadable(str(exc))
            _body, sequence, checksummed = codec.split_trailer(frame)
            return self._answer_frame(self._refusal(command, str(exc)), sequence, checksummed)
        if request.checksummed:
            self.error_detection = True
        elif self.error_detection:  # once a kiosk sends checksums, it always does
            return self._unreadable("checksum missing")
        if request.command == "97":
            self.errors_in_row = 0
            return self.last_answer or codec.resend_request()
        if request.sequence is not None and frame == self.last_request and self.last_answer:
            return self.last_answer  # the kiosk did not hear our answer: the same again
        self.errors_in_row = 0
        answer = self._answer_frame(self._answer(request), request.sequence, request.checksummed)
        self.last_request = frame
        return answer

    def too_long(self) -> bytes:
        """The answer to a message longer than the server reads."""
        return self._unreadable("message too long")

    def _unreadable(self, why: str) -> bytes:
        self.errors_in_row += 1
        log.info("SIP2 frame from %s not understood: %s", self.peer, why)
        if self.errors_in_row >= MAX_ERRORS_IN_A_ROW:
            log.warning(
                "SIP2 connection from %s closed: %d bad frames", self.peer, MAX_ERRORS_IN_A_ROW
            )
            self.closing = True
        return codec.resend_request()

    def _answer_frame(self, response: Response, sequence: int | None, checksummed: bool) -> bytes:
        data = codec.encode(
            response, sequence=sequence, checksummed=checksummed, encoding=self.limits.encoding
        )
        self.last_answer = data
        return data

    # -- messages ----------------------------------------------------------------------

    def _answer(self, request: Request) -> Response:
        if request.command == "93":
            return self._login(request)
        if self.kiosk is not None and self.clock() - self.checked_at > RECHECK_EVERY:
            if not self._still_active(self.kiosk):
                log.warning("SIP2 kiosk %s withdrawn: connection closed", self.kiosk.login)
                self.kiosk, self.closing = None, True
            else:
                self.checked_at = self.clock()
        missing = codec.missing_fields(request)
        if self.kiosk is None:
            return self._refusal(request.command, LOG_IN_FIRST, request)
        if missing:
            return self._refusal(
                request.command,
                f"Message {request.command} needs field {', '.join(missing)}",
                request,
            )
        if request.command == "99":
            return self._status(request)
        if request.command in ("23", "63"):
            return self._patron(request, self.kiosk)
        if request.command == "35":
            return (
                Response("36", "Y" + codec.timestamp())
                .add("AO", request.get("AO"))
                .add("AA", request.get("AA"))
            )
        return self._refusal(request.command, ELSEWHERE, request)

    def _still_active(self, kiosk: Kiosk) -> bool:
        try:
            return self.backend.still_active(kiosk)
        except Exception:  # the database did not answer: looked at again a minute later
            log.exception("SIP2 kiosk registration could not be read")
            return True

    def _login(self, request: Request) -> Response:
        algorithms = request.fixed[0] + request.fixed[1]
        if codec.missing_fields(request) or algorithms not in ("00", "  "):
            kiosk = None
        else:
            try:
                kiosk = self.backend.login(request.get("CN"), request.get("CO"), self.peer)
            except Exception:
                log.exception("SIP2 login could not be checked")
                return Response("94", "0")  # not the kiosk's failure: not counted
        if kiosk is None:
            self.failed_logins += 1
            log.warning("SIP2 login refused from %s", self.peer)
            if self.failed_logins >= MAX_FAILED_LOGINS:
                self.closing = True
            self.kiosk = None
            return Response("94", "0")
        self.kiosk, self.checked_at = kiosk, self.clock()
        log.info("SIP2 kiosk %s logged in from %s", kiosk.login, self.peer)
        return Response("94", "1")

    def _status(self, request: Request) -> Response:
        kiosk = self.kiosk
        assert kiosk is not None
        return (
            self._acs_status(kiosk.institution_id, online=True)
            .add("AM", kiosk.location)
            .add("BX", SUPPORTED)
            .add("AN", kiosk.location)
        )

    def _acs_status(self, institution: str, *, online: bool) -> Response:
        fixed = (
            ("Y" if online else "N")
            + "NNNNN"  # checkin, checkout, renewal policy, status update, offline: not here
            + f"{self.limits.timeout_period:03d}"
            + f"{self.limits.retries_allowed:03d}"
            + codec.timestamp()
            + PROTOCOL_VERSION
        )
        return Response("98", fixed).add("AO", institution)

    def _patron(self, request: Request, kiosk: Kiosk) -> Response:
        password = request.fields.get("AD")
        try:
            answer = self.backend.patron(kiosk, request.get("AA"), password or None)
        except Exception:
            log.exception("SIP2 patron look-up failed")
            return self._refusal(request.command, UNAVAILABLE, request)
        status = (
            ALLOWED if answer.entitled else (DENIED_LOST if answer.card_reported_lost else DENIED)
        )
        language = request.fixed[0]
        if request.command == "23":
            response = Response("24", status + language + codec.timestamp())
        else:
            counts = UNKNOWN_COUNT * 6
            response = Response("64", status + language + codec.timestamp() + counts)
        response.add("AO", request.get("AO") or kiosk.institution_id)
        response.add("AA", request.get("AA")).add("AE", answer.name)
        response.add("BL", "Y" if answer.entitled else "N")
        if answer.pin is not None:
            response.add("CQ", answer.pin)
        for message in answer.messages:
            response.add("AF", message)
        return response

    def _refusal(self, command: str, why: str, request: Request | None = None) -> Response:
        """A command's answer in its "no" form, with ``why`` on the screen line."""

        def field(name: str) -> str:
            return request.get(name) if request is not None else ""

        institution = field("AO") or (self.kiosk.institution_id if self.kiosk else "")
        now = codec.timestamp()
        if command in ("93",):
            return Response("94", "0")
        if command == "99":
            response = self._acs_status(institution, online=False).add("BX", SUPPORTED)
        elif command == "23":
            response = Response("24", DENIED + "000" + now).add("AO", institution)
            response.add("AA", field("AA")).add("AE", "").add("BL", "N")
        elif command == "63":
            response = Response("64", DENIED + "000" + now + UNKNOWN_COUNT * 6)
            response.add("AO", institution).add("AA", field("AA")).add("AE", "").add("BL", "N")
        elif command == "35":
            response = Response("36", "N" + now).add("AO", institution).add("AA", field("AA"))
        elif command in ("11", "29"):  # checkout, renew
            response = Response("12" if command == "11" else "30", "0NUN" + now)
            response.add("AO", institution).add("AA", field("AA")).add("AB", field("AB"))
            response.add("AJ", "").add("AH", "")
        elif command == "09":  # checkin
            response = Response("10", "0NUN" + now).add("AO", institution)
            response.add("AB", field("AB")).add("AQ", "")
        elif command == "65":  # renew all
            response = Response("66", "000000000" + now).add("AO", institution)
        else:  # 17, item information: circulation status "other", no security, no fee
            response = Response("18", "010001" + now).add("AB", field("AB")).add("AJ", "")
        return response.add("AF", why)
