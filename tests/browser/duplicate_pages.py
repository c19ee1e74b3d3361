"""Pages for one record per person: the staff console's registration when a record may
exist already, the list of possible duplicates, a pair side by side and the warning on a
record; added to the one list in ``pages.py`` so each is checked in Chromium with axe."""

from __future__ import annotations

from datetime import date

from playwright.sync_api import Page, Response
from sqlalchemy import select

from idservice.db import db_session
from idservice.models import PossibleDuplicate
from tests.browser import staff_pages  # the module: it may still be loading (see below)
from tests.browser.pages import _goto, visit
from tests.browser.site import REGISTRATION, Site

# staff_pages imports pages, which imports this module: its functions are looked up when a
# visit runs, not at import.

#: The person in ``site.register``, already on record (made at a Gateway, say).
GRACE_BORN = date(1986, 12, 9)
SAME_AT_THE_COUNTER = {
    k: v for k, v in REGISTRATION.items() if k not in ("password", "password_confirm")
}


def registered_twice(site: Site) -> str:
    """Grace has a record and registers online again: the pair's id."""
    site.resident(given_name="Grace", family_name="Hopper", date_of_birth=GRACE_BORN)
    site.register("grace.again@example.com")
    with site.app.app_context():
        try:
            pair_id = db_session.scalar(select(PossibleDuplicate.id))
            assert pair_id is not None, "no possible duplicate was kept"
            return str(pair_id)
        finally:
            db_session.remove()


def _register_again(page: Page, site: Site) -> Response:
    site.resident(given_name="Grace", family_name="Hopper", date_of_birth=GRACE_BORN)
    staff_pages.staff_signed_in(site, "library-staff")
    page.goto("/staff/residents/new")
    site.fill({**SAME_AT_THE_COUNTER, "family_name": "Hoper"})
    page.get_by_label("Face to face").check()
    return site.submit("Register resident")


@visit("staff.register_resident", "a record may exist", status=400, errors="fields")
def _register_match(page: Page, site: Site) -> Response:
    return _register_again(page, site)


@visit("staff.register_resident", "different person, no reason", status=400, errors="fields")
def _register_no_reason(page: Page, site: Site) -> Response:
    _register_again(page, site)
    page.get_by_label("This is a different person from the records shown").check()
    return site.submit("Register resident")


@visit("staff.duplicates")
def _duplicates(page: Page, site: Site) -> Response:
    registered_twice(site)
    staff_pages.staff_signed_in(site)
    return _goto(page, "/staff/duplicates")


@visit("staff.duplicates", "none to check")
def _duplicates_none(page: Page, site: Site) -> Response:
    staff_pages.staff_signed_in(site)
    return _goto(page, "/staff/duplicates")


@visit("staff.duplicates", "not allowed", status=403)
def _duplicates_forbidden(page: Page, site: Site) -> Response:
    staff_pages.staff_signed_in(site, "library-staff")
    return _goto(page, "/staff/duplicates")


@visit("staff.duplicate")
def _pair(page: Page, site: Site) -> Response:
    pair_id = registered_twice(site)
    staff_pages.staff_signed_in(site)
    return _goto(page, f"/staff/duplicates/{pair_id}")


@visit("staff.duplicate", "no reason", status=400, errors="fields")
def _pair_no_reason(page: Page, site: Site) -> Response:
    _pair(page, site)
    return site.submit("Not the same person")


@visit("staff.duplicate", "resolved")
def _pair_resolved(page: Page, site: Site) -> Response:
    _pair(page, site)
    url = page.url
    site.fill({"note": "Twins: both passports seen"})
    site.submit("Not the same person")
    return _goto(page, url)


@visit("staff.record", "with a possible duplicate")
def _record_with_pair(page: Page, site: Site) -> Response:
    registered_twice(site)
    staff_pages.staff_signed_in(site)
    page.goto("/staff/duplicates")
    page.get_by_role("link", name="Check").first.click()
    page.get_by_role("link", name="Open this record (new record)").click()
    page.get_by_label("Face to face").check()
    site.fill({"reason": "Checking a possible duplicate"})
    return site.submit("Open record")
