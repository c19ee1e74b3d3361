""" "Who checked your entitlements": the partner query log in plain English."""

from __future__ import annotations

from dataclasses import dataclass

from idservice.partner_api import dao
from idservice.partner_api.checks import catalogue
from idservice.services.activity import _when as when_words

#: What the partner was told, said to the resident.
ANSWERS = {
    "entitled": "That you have it",
    "not_entitled": "That you do not have it",
    "not_yet_valid": "That it has not started yet",
    "expired": "That it has ended",
    "suspended": "That it is paused (suspended)",
    "card_not_valid": "That your card is not valid",
}

HOW = {
    "card_number": "your Kent Card number",
    "subject": "their reference for your account",
    # The SIP2 bridge's look-ups (idservice/sip2/bridge.py).
    "kiosk": "your Kent Card, at a library self-service kiosk",
    "kiosk_card_pin": "your Kent Card and its PIN, at a library self-service kiosk",
}


@dataclass(frozen=True)
class CheckItem:
    when: str
    who: str
    service: str
    how: str
    answer: str


def service_name(code: str) -> str:
    try:
        return catalogue().get(code).name
    except KeyError:
        return code


def checks_for(resident_id: str, limit: int = 100) -> list[CheckItem]:
    return [
        CheckItem(
            when=when_words(row.at),
            who=row.client_name or "A service that is no longer connected",
            service=service_name(row.service),
            how=HOW.get(row.looked_up_by, "another way"),
            answer=ANSWERS.get(row.result, "Nothing about you"),
        )
        for row in dao.dao_list_checks_for_resident(resident_id, limit)
    ]
