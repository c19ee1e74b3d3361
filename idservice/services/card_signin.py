"""Card + PIN sign-in at a library PC or kiosk (docs/card-protocol.md, "Card sign-in").

1. The browser asks to sign in with a Kent Card: :func:`start` makes a single-use,
   short-lived challenge bound to that browser (a random secret in its session cookie,
   only the hash stored) and a code the screen shows.
2. The kiosk's registered reader (OAuth client with ``card-sign-in:write``) picks the
   challenge up by the code (:func:`reader_challenge`); only that reader may answer.
3. The card checks the PIN and signs ``LABEL_SIGN_IN || challenge || card data``; the
   reader posts the SELECT answer and signature (:func:`reader_answer`). The certificate
   chain is verified with the issuer keyring, the card must be active in the register with
   the same key, the challenge unused and unexpired. One conditional UPDATE moves the
   challenge on, so it is used once whatever arrives at the same moment.
4. The browser continues (:func:`complete`) and becomes signed in as the card's resident
   with ``acr`` card + PIN and ``amr`` ``["sc", "pin"]``.

Wrong and blocked PINs are reported by the reader (:func:`reader_report`) so the screen
can say so; a blocked PIN, a refused card, or a timeout ends the sign-in for good.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from cardio import certificate as cert
from cardio import spec
from cardio.errors import MalformedResponseError
from cardio.session import parse_select_answer
from cardio.verify import TapRejected, verify_sign_in
from idservice import audit
from idservice.auth.levels import AMR_CARD_PIN
from idservice.cards import dao as cards_dao
from idservice.cards.issuance import issuer_keyring
from idservice.db import db_session, transactional
from idservice.models.base import utcnow
from idservice.models.cards import (
    CARD_ACTIVE,
    CARD_EXPIRED,
    CARD_HOTLISTED,
    CARD_REPLACED,
    SIGN_IN_ANSWERED,
    SIGN_IN_COMPLETED,
    SIGN_IN_PENDING,
    SIGN_IN_REFUSED,
    Card,
    CardSignIn,
)
from idservice.models.residents import Resident
from idservice.services.signin import complete_sign_in

#: How long the resident has to put the card in and type the PIN.
LIFETIME = timedelta(minutes=3)
#: After the card answered, how long the browser has to continue.
CONTINUE_WITHIN = timedelta(minutes=1)
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read off a screen
CODE_LENGTH = 8
METHOD = "Kent Card and PIN"

UNKNOWN_CODE = "No card sign-in is waiting for this code: start again on the screen"
USED = "This sign-in code has already been used: start again on the screen"
EXPIRED = "The card sign-in timed out: start again on the screen"
TIMED_OUT = "Your card sign-in timed out. Start again"


def _changed(result: object) -> bool:
    """Whether a conditional UPDATE moved the row (it did not if someone else got there)."""
    return bool(getattr(result, "rowcount", 0))


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def normalise_code(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isalnum())


def display_code(code: str) -> str:
    return f"{code[:4]}-{code[4:]}"


def _new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


@transactional
def start() -> tuple[CardSignIn, str]:
    """A new challenge for this browser; returns it and the browser's secret."""
    secret = secrets.token_urlsafe(32)
    now = utcnow()
    for _ in range(5):
        row = CardSignIn(
            code=_new_code(),
            browser_hash=_hash(secret),
            challenge=secrets.token_bytes(spec.CHALLENGE_LENGTH),
            status=SIGN_IN_PENDING,
            created_at=now,
            expires_at=now + LIFETIME,
        )
        try:
            with db_session.begin_nested():
                db_session.add(row)
            return row, secret
        except IntegrityError:  # a code already handed out: draw again
            continue
    raise RuntimeError("could not find a free sign-in code")


def _for_browser(sign_in_id: str, secret: str) -> CardSignIn | None:
    row = db_session.get(CardSignIn, sign_in_id)
    if row is None or not hmac.compare_digest(row.browser_hash, _hash(secret)):
        return None
    return row


@dataclass(frozen=True)
class BrowserView:
    """What the waiting screen shows."""

    status: str  # pending, refused, completed, expired
    code: str
    message: str | None


@transactional
def complete(sign_in_id: str, secret: str) -> BrowserView | None:
    """Sign this browser in if its card has answered; otherwise what to show.

    None when the browser holds no sign-in of ours (start again).
    """
    row = _for_browser(sign_in_id, secret)
    if row is None:
        return None
    now = utcnow()
    code = display_code(row.code)
    if row.status == SIGN_IN_PENDING and now >= row.expires_at:
        return BrowserView("expired", code, TIMED_OUT)
    if row.status == SIGN_IN_ANSWERED:
        answered = row.answered_at or row.expires_at
        moved = _changed(
            db_session.execute(
                update(CardSignIn)
                .where(CardSignIn.id == row.id, CardSignIn.status == SIGN_IN_ANSWERED)
                .values(status=SIGN_IN_COMPLETED)
                .execution_options(synchronize_session=False)
            )
        )
        if not moved or now - answered > CONTINUE_WITHIN:
            return BrowserView("expired", code, TIMED_OUT)
        resident = db_session.get(Resident, row.resident_id)
        if resident is None or not resident.is_active:
            return BrowserView("refused", code, "This account is closed")
        complete_sign_in_with_card(resident, row)
        return BrowserView(SIGN_IN_COMPLETED, code, None)
    if row.status == SIGN_IN_COMPLETED:
        return BrowserView("expired", code, TIMED_OUT)
    return BrowserView(row.status, code, row.message)


def complete_sign_in_with_card(resident: Resident, row: CardSignIn) -> None:
    """Start the browser session at the card + PIN level; audited as a sign-in."""
    complete_sign_in(
        resident, AMR_CARD_PIN, METHOD, card_id=row.card_id, reader=row.reader_client_id
    )


# --- the reader's side ---------------------------------------------------------------------


@dataclass(frozen=True)
class ReaderResult:
    """An API answer: ``error`` empty on success; ``status`` the HTTP status."""

    status: int
    error: str
    message: str
    challenge: bytes = b""


def _by_code(code: str) -> CardSignIn | None:
    return db_session.scalar(select(CardSignIn).where(CardSignIn.code == normalise_code(code)))


def _usable(row: CardSignIn | None, reader_client_id: str) -> ReaderResult | None:
    """Why this reader cannot go on with this sign-in, or None when it can."""
    if row is None:
        return ReaderResult(404, "unknown_code", UNKNOWN_CODE)
    if row.reader_client_id is not None and row.reader_client_id != reader_client_id:
        return ReaderResult(409, "other_reader", "Another reader is answering this sign-in")
    if row.status != SIGN_IN_PENDING:
        return ReaderResult(409, "used", USED)
    if utcnow() >= row.expires_at:
        return ReaderResult(410, "expired", EXPIRED)
    return None


@transactional
def reader_challenge(code: str, reader_client_id: str) -> ReaderResult:
    """The challenge for the code on the screen; the first reader to ask keeps it."""
    row = _by_code(code)
    problem = _usable(row, reader_client_id)
    if problem is not None or row is None:
        return problem or ReaderResult(404, "unknown_code", UNKNOWN_CODE)
    row.reader_client_id = reader_client_id
    return ReaderResult(200, "", "Put the card in the reader and enter the PIN", row.challenge)


def _refuse(row: CardSignIn, message: str, card: Card | None = None) -> ReaderResult:
    """End the sign-in for good (only if still pending) and say why on the screen."""
    moved = _changed(
        db_session.execute(
            update(CardSignIn)
            .where(CardSignIn.id == row.id, CardSignIn.status == SIGN_IN_PENDING)
            .values(status=SIGN_IN_REFUSED, message=message, card_id=card.id if card else None)
            .execution_options(synchronize_session=False)
        )
    )
    if not moved:
        return ReaderResult(409, "used", USED)
    if card is not None:
        audit.record(
            "sign_in.failed",
            resident_id=card.resident_id,
            actor_type="resident",
            actor_id=None,
            channel="web",
            details={"method": METHOD, "card_id": card.id},
        )
    return ReaderResult(403, "card_refused", message)


def _register_problem(card: Card | None, point: bytes, today: date) -> str | None:
    if card is None:
        return "This card is not on the Kent Card register: ask at a Gateway or library"
    if card.public_key is None or card.public_key != point:
        return "This card is not the one on the Kent Card register: ask at a Gateway or library"
    if card.status in (CARD_HOTLISTED, CARD_REPLACED):
        why = card.hotlist_reason or "replaced"
        return f"This card was reported {why}, so it cannot be used to sign in"
    if card.status == CARD_EXPIRED or card.expiry < today:
        return "This card has expired: you can renew it at a Gateway or library"
    if card.status != CARD_ACTIVE:
        return "This card was never activated: take it to a Gateway or library"
    resident = db_session.get(Resident, card.resident_id)
    if resident is None or not resident.is_active:
        return "The account this card belongs to is closed"
    return None


@transactional
def reader_answer(
    code: str, reader_client_id: str, select_answer: bytes, signature: bytes
) -> ReaderResult:
    """Check the card's answer; on success the browser may continue and is signed in."""
    row = _by_code(code)
    problem = _usable(row, reader_client_id)
    if problem is not None or row is None:
        return problem or ReaderResult(404, "unknown_code", UNKNOWN_CODE)
    if row.reader_client_id is None:
        return ReaderResult(409, "no_challenge", "Fetch the challenge for this code first")
    try:
        answer = parse_select_answer(select_answer)
    except MalformedResponseError as exc:
        return ReaderResult(422, "unprocessable_answer", f"select_answer: {exc}")
    today = date.today()
    try:
        verified = verify_sign_in(answer, row.challenge, signature, issuer_keyring(), today)
    except TapRejected as rejected:
        card = cards_dao.dao_get_card_by_number(rejected.card_number or "")
        return _refuse(row, f"The card was refused: {rejected.reason.words}", card)
    card = cards_dao.dao_get_card_by_number(verified.card_number)
    point = cert.decode(answer.certificate or b"").public_point
    refused = _register_problem(card, point, today)
    if refused is not None or card is None:
        return _refuse(row, refused or "", card)
    moved = _changed(
        db_session.execute(
            update(CardSignIn)
            .where(
                CardSignIn.id == row.id,
                CardSignIn.status == SIGN_IN_PENDING,
                CardSignIn.expires_at > utcnow(),
            )
            .values(
                status=SIGN_IN_ANSWERED,
                resident_id=card.resident_id,
                card_id=card.id,
                answered_at=utcnow(),
                message=None,
            )
            .execution_options(synchronize_session=False)
        )
    )
    if not moved:
        return ReaderResult(409, "used", USED)
    return ReaderResult(200, "", "Card and PIN accepted: continue on the screen")


#: What the reader may report about a card that did not sign.
PIN_REPORTS = ("wrong_pin", "pin_blocked")


@transactional
def reader_report(code: str, reader_client_id: str, error: str, sw: int) -> ReaderResult:
    """The card said the PIN was wrong (63CX) or is blocked (6983): tell the screen."""
    row = _by_code(code)
    problem = _usable(row, reader_client_id)
    if problem is not None or row is None:
        return problem or ReaderResult(404, "unknown_code", UNKNOWN_CODE)
    if error == "wrong_pin" and sw & 0xFFF0 == 0x63C0 and sw & 0x0F:
        left = sw & 0x0F
        row.message = (
            f"The PIN was not right: {left} {'try' if left == 1 else 'tries'} left before the "
            "card is blocked. Enter the PIN on the reader again"
        )
        return ReaderResult(200, "", row.message)
    if error == "pin_blocked" or (error == "wrong_pin" and sw & 0xFFF0 == 0x63C0):
        message = (
            f"Your PIN is blocked (card status {sw:04X}): go to a Gateway or library to unblock it"
        )
        row.status = SIGN_IN_REFUSED
        row.message = message
        return ReaderResult(200, "", message)
    return ReaderResult(
        422, "unprocessable_report", f"error must be one of {', '.join(PIN_REPORTS)}"
    )
