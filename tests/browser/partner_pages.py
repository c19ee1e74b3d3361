"""The partner API's pages: its documentation and "Who checked your entitlements"."""

from __future__ import annotations

from datetime import date, timedelta

from playwright.sync_api import Page, Response

from entitlements.ledger import store as ledger
from entitlements.ledger.events import Channel, EventKind, LedgerEvent
from idservice.cards import dao as cards_dao
from idservice.db import db_session
from idservice.models.base import utcnow
from idservice.oauth.clients import register_client
from idservice.partner_api import checks
from tests.browser.pages import _goto, visit
from tests.browser.site import Site


def _checked_by_a_partner(site: Site, resident_id: str) -> None:
    """A library partner checks the resident's card twice (library, then a bus pass)."""
    with site.app.app_context():
        try:
            ledger.append(
                site.app.extensions["kentcard_engine"],
                [
                    LedgerEvent(
                        kind=EventKind.GRANT,
                        resident=resident_id,
                        service="library",
                        actor="tests",
                        channel=Channel.FACE_TO_FACE,
                        reason="eligible on checked facts",
                        occurred_at=utcnow(),
                        valid_from=date(2020, 1, 1),
                        valid_until=date(2099, 1, 1),
                    )
                ],
            )
            card = cards_dao.dao_create_card(
                card_number=cards_dao.dao_next_card_number("982601"),
                resident_id=resident_id,
                status="active",
                expiry=date.today() + timedelta(days=365),
            )
            client = register_client(
                name="Kent Libraries",
                grant_types=["client_credentials"],
                scope="entitlements:library:check entitlements:bus-pass-older:check",
            ).client
            db_session.commit()
            partner = checks.Partner(client.client_id, client.name, client.sector, frozenset())
            checks.check(partner, "library", card_number=card.card_number)
            checks.check(partner, "bus-pass-older", card_number=card.card_number)
        finally:
            db_session.remove()


@visit("partner_pages.entitlement_checks", "none yet")
def _checks_none(page: Page, site: Site) -> Response:
    site.signed_in(site.resident())
    return _goto(page, "/account/entitlement-checks")


@visit("partner_pages.entitlement_checks", "after checks")
def _checks_some(page: Page, site: Site) -> Response:
    someone = site.resident()
    _checked_by_a_partner(site, someone.id)
    site.signed_in(someone)
    return _goto(page, "/account/entitlement-checks")


@visit("partner_pages.docs")
def _api_docs(page: Page, site: Site) -> Response:
    return _goto(page, "/api/v1/docs")
