"""Pages for life events (Tell Us Once), partner event delivery and "your data", added to
the one list in ``pages.py`` so each is checked in Chromium with axe."""

from __future__ import annotations

from datetime import date

from playwright.sync_api import Page, Response

from idservice.db import db_session
from idservice.oauth.clients import register_client
from idservice.partners import registry
from idservice.services import life_events
from tests.browser import staff_pages  # the module: it may still be loading (see below)
from tests.browser.pages import _expire_csrf, _goto, visit
from tests.browser.site import Site
from tests.factories import DEFAULT_PASSWORD
from tests.partners.conftest import grant

# staff_pages imports pages, which imports this module: its functions are looked up when a
# visit runs, not at import.
KINDS = ("death", "moved-out-of-kent", "name-changed", "address-changed")


# The resident's own data -------------------------------------------------------------------


@visit("accounts.your_data_page")
def _your_data(page: Page, site: Site) -> Response:
    site.signed_in(site.resident())
    return _goto(page, "/account/your-data")


@visit("accounts.your_data_page", "expired page", status=400, errors="form")
def _your_data_expired(page: Page, site: Site) -> Response:
    _your_data(page, site)
    _expire_csrf(page)
    return site.submit("Download your data")


@visit("accounts.erase_your_data")
def _erase(page: Page, site: Site) -> Response:
    site.signed_in(site.resident())
    return _goto(page, "/account/your-data/erase")


@visit("accounts.erase_your_data", "wrong password", status=400, errors="fields")
def _erase_wrong(page: Page, site: Site) -> Response:
    _erase(page, site)
    page.get_by_label("I understand").check()
    site.fill({"password": "not the password"})
    return site.submit("Erase my data")


@visit("accounts.data_erased")
def _erased(page: Page, site: Site) -> Response:
    _erase(page, site)
    page.get_by_label("I understand").check()
    site.fill({"password": DEFAULT_PASSWORD})
    return site.submit("Erase my data")


# Staff: Tell Us Once ------------------------------------------------------------------------


def _life_event_visit(kind: str) -> None:
    @visit("staff.life_event", kind)
    def _page(page: Page, site: Site) -> Response:
        resident_id = staff_pages.open_record(page, site)
        return _goto(page, f"/staff/residents/{resident_id}/life-events/{kind}")


for _kind in KINDS:
    _life_event_visit(_kind)


@visit("staff.life_event", "death, nothing answered", status=400, errors="fields")
def _death_empty(page: Page, site: Site) -> Response:
    resident_id = staff_pages.open_record(page, site)
    _goto(page, f"/staff/residents/{resident_id}/life-events/death")
    return site.submit("Record the death")


@visit("staff.life_event", "address, nothing answered", status=400, errors="fields")
def _address_empty(page: Page, site: Site) -> Response:
    resident_id = staff_pages.open_record(page, site)
    _goto(page, f"/staff/residents/{resident_id}/life-events/address-changed")
    return site.submit("Record the new address")


@visit("staff.life_event", "record closed", status=409, errors="form")
def _closed_record(page: Page, site: Site) -> Response:
    resident_id = staff_pages.open_record(page, site)
    with site.app.app_context():
        try:
            life_events.record_death(
                life_events.Notifier("registrar", "registrar-feed"), resident_id, date.today()
            )
        finally:
            db_session.remove()
    return _goto(page, f"/staff/residents/{resident_id}/life-events/moved-out-of-kent")


@visit("staff.record", "deceased")
def _record_deceased(page: Page, site: Site) -> Response:
    resident_id = staff_pages.open_record(page, site)
    with site.app.app_context():
        try:
            life_events.record_death(
                life_events.Notifier("registrar", "registrar-feed"), resident_id, date.today()
            )
        finally:
            db_session.remove()
    return _goto(page, f"/staff/residents/{resident_id}")


# Staff: events sent to partners -----------------------------------------------------------


def _some_events(site: Site) -> None:
    someone = site.resident()
    grant(site.app, someone.id, "bus-pass-older")
    with site.app.app_context():
        try:
            registered = register_client(
                name="Example Bus Company",
                grant_types=["client_credentials"],
                scope="entitlements:read",
            )
            registry.add_partner(
                registered.client.client_id,
                display_name="Example Bus Company",
                contact_email="events@bus.example",
                webhook_url="https://bus.example/events",
                services=["bus-pass-older"],
            )
            db_session.commit()
            life_events.record_death(
                life_events.Notifier("registrar", "registrar-feed"), someone.id, date.today()
            )
        finally:
            db_session.remove()


@visit("staff.partner_events")
def _partner_events(page: Page, site: Site) -> Response:
    _some_events(site)
    staff_pages.staff_signed_in(site, "administrator")
    return _goto(page, "/staff/partner-events")


@visit("staff.partner_events", "none of this status")
def _partner_events_empty(page: Page, site: Site) -> Response:
    staff_pages.staff_signed_in(site, "administrator")
    return _goto(page, "/staff/partner-events?status=dead")
