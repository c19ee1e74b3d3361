"""The reader fleet page, added to the one list in ``pages.py`` so it is checked in
Chromium with axe: readers never heard from, with a wrong clock and with taps flagged."""

from __future__ import annotations

from datetime import timedelta

from playwright.sync_api import Page, Response

from idservice.cards import fleet
from idservice.db import db_session
from idservice.models.base import utcnow
from tests.browser import staff_pages  # the module: it may still be loading (see below)
from tests.browser.pages import _goto, visit
from tests.browser.site import Site

# staff_pages imports pages, which imports this module: its functions are looked up when a
# visit runs, not at import.


def some_readers(site: Site) -> None:
    """A bus reader heard from an hour ago with a clock 3 minutes fast and a tap flagged,
    and a library reader never heard from."""
    with site.app.app_context():
        try:
            bus = fleet.register_reader(
                name="Stagecoach bus 15623",
                mode="transport",
                location="Canterbury bus station",
                operator="Stagecoach South East",
                route="Triangle",
                vehicle="15623",
            )
            fleet.register_reader(
                name="Maidstone library desk 1", mode="library", location="Maidstone library"
            )
            heard = utcnow() - timedelta(hours=1)
            report = fleet.ReaderReport("2026-12-07T06:00:00Z/41", 3, heard + timedelta(minutes=3))
            fleet.record_contact(bus.state.client_id, report, heard, recorded=120, flagged=1)
            db_session.commit()
        finally:
            db_session.remove()


@visit("staff.readers")
def _readers(page: Page, site: Site) -> Response:
    some_readers(site)
    staff_pages.staff_signed_in(site, "transport-officer")
    return _goto(page, "/staff/readers")


@visit("staff.readers", "no readers yet")
def _no_readers(page: Page, site: Site) -> Response:
    staff_pages.staff_signed_in(site, "administrator")
    return _goto(page, "/staff/readers")
