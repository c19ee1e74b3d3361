"""The protocol layer: frame APDUs over a :class:`CardConnection`.

Handles response chaining (61XX, GET RESPONSE) and a wrong Le (6CXX), both bounded: one
resend for 6CXX and at most :data:`MAX_GET_RESPONSES` GET RESPONSEs per command, past which
the card is refused (:class:`~cardio.errors.CardProtocolError`) however it goes on. Counts
every APDU exchanged (a tap's budget is counted in round trips) and logs traffic at debug
level with PIN payloads redacted.
"""

from __future__ import annotations

import logging

from cardio import spec
from cardio.apdu import ApduError, CommandApdu, sw_text
from cardio.connection import CardConnection
from cardio.errors import CardProtocolError

logger = logging.getLogger(__name__)

_SECRET_INS = {spec.INS_VERIFY, spec.INS_CHANGE_REFERENCE_DATA, spec.INS_RESET_RETRY_COUNTER}
#: A 6CXX answer (wrong Le, XX is right) is followed by one resend with Le = XX; a second
#: 6CXX is refused.
MAX_RESENDS = 1
#: GET RESPONSEs one command may take. The longest Kent Card answer (the FCI, about 250
#: bytes) needs one; eight allow a card that hands it out in 32-byte pieces.
MAX_GET_RESPONSES = 8


def redacted(command: CommandApdu) -> str:
    """Hex of the command for the log; PIN-bearing data becomes ``<n bytes redacted>``."""
    header = bytes([command.cla, command.ins, command.p1, command.p2]).hex()
    if command.ins in _SECRET_INS and command.data:
        return f"{header} <{len(command.data)} bytes redacted>"
    return f"{header} {command.data.hex()} ne={command.ne}"


class ApduProtocol:
    def __init__(self, connection: CardConnection) -> None:
        self.connection = connection
        self.apdu_count = 0

    def _exchange(self, command: CommandApdu) -> tuple[bytes, int]:
        self.apdu_count += 1
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("> %s", redacted(command))
        data, sw = self.connection.transmit(command.encode())
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("< %s %s", data.hex(), sw_text(sw))
        return data, sw

    def send(self, command: CommandApdu) -> bytes:
        """Send a command; return the whole response data or raise :class:`ApduError`
        (a failing status word) or :class:`CardProtocolError` (past a bound)."""
        data, sw = self._exchange(command)
        resends = 0
        while sw >> 8 == 0x6C:
            if resends == MAX_RESENDS:
                raise CardProtocolError(
                    f"the card asked again for another Le ({sw_text(sw)}) after "
                    f"{MAX_RESENDS} resend"
                )
            resends += 1
            command = CommandApdu(
                command.cla, command.ins, command.p1, command.p2, command.data, sw & 0xFF or 256
            )
            data, sw = self._exchange(command)
        chunks = [data]
        responses = 0
        while sw >> 8 == 0x61:
            if responses == MAX_GET_RESPONSES:
                raise CardProtocolError(
                    f"the card still had more to send ({sw_text(sw)}) after "
                    f"{MAX_GET_RESPONSES} GET RESPONSEs"
                )
            responses += 1
            data, sw = self._exchange(
                CommandApdu(command.cla & 0x03, spec.INS_GET_RESPONSE, 0, 0, ne=sw & 0xFF or 256)
            )
            chunks.append(data)
        if sw != 0x9000:
            raise ApduError(sw, b"".join(chunks))
        return b"".join(chunks)
