"""Pages for merging two records of one person and undoing it, added to the one list in
``pages.py`` so each is checked in Chromium with axe, in its normal and error states."""

from __future__ import annotations

from datetime import timedelta

from playwright.sync_api import Page, Response
from sqlalchemy import select

from idservice.db import db_session
from idservice.models import ResidentMerge
from tests.browser import staff_pages  # the module: it may still be loading (see below)
from tests.browser.pages import _goto, visit
from tests.browser.site import Site
from tests.partners.conftest import grant

# staff_pages imports pages, which imports this module: its functions are looked up when a
# visit runs, not at import.
LEADER = "gateway-team-leader"


def _two_records(page: Page, site: Site) -> tuple[str, str]:
    """A team leader with one record open and a second record of the same person."""
    kept = staff_pages.open_record(page, site, LEADER)
    other = site.resident(email=None, password=None, email_confirmed=False)
    grant(site.app, other.id, "bus-pass-older")
    return kept, other.id


def _compare(page: Page, site: Site) -> tuple[str, str, Response]:
    kept, other = _two_records(page, site)
    return kept, other, _goto(page, f"/staff/residents/{kept}/merge?with={other}")


def _merged(page: Page, site: Site) -> tuple[str, Response]:
    """Merged through the page; the confirmation page's response and the merge id."""
    _compare(page, site)
    site.fill({"reason": "Registered online and again at the Gateway"})
    page.get_by_label("I have checked that both records are the same person").check()
    response = site.submit("Merge the records")
    return page.url.rsplit("/", 1)[1], response


@visit("staff.merge_records", "find the other record")
def _find(page: Page, site: Site) -> Response:
    kept = staff_pages.open_record(page, site, LEADER)
    return _goto(page, f"/staff/residents/{kept}/merge")


@visit("staff.merge_records", "wrong reference", status=400, errors="fields")
def _wrong_reference(page: Page, site: Site) -> Response:
    _find(page, site)
    site.fill({"with": "not a reference"})
    return site.submit("Compare the records")


@visit("staff.merge_records", "the record itself", status=400, errors="fields")
def _itself(page: Page, site: Site) -> Response:
    kept = staff_pages.open_record(page, site, LEADER)
    return _goto(page, f"/staff/residents/{kept}/merge?with={kept}")


@visit("staff.merge_records", "both records side by side")
def _side_by_side(page: Page, site: Site) -> Response:
    return _compare(page, site)[2]


@visit("staff.merge_records", "no reason given", status=400, errors="fields")
def _no_reason(page: Page, site: Site) -> Response:
    _compare(page, site)
    return site.submit("Merge the records")


@visit("staff.merge_done", "records merged")
def _done(page: Page, site: Site) -> Response:
    return _merged(page, site)[1]


@visit("staff.undo_merge")
def _undo(page: Page, site: Site) -> Response:
    merge_id, _ = _merged(page, site)
    return _goto(page, f"/staff/merges/{merge_id}/undo")


@visit("staff.undo_merge", "no reason given", status=400, errors="fields")
def _undo_no_reason(page: Page, site: Site) -> Response:
    _undo(page, site)
    return site.submit("Undo the merge")


@visit("staff.undo_merge", "too late to undo")
def _too_late(page: Page, site: Site) -> Response:
    merge_id, _ = _merged(page, site)
    with site.app.app_context():
        try:
            row = db_session.get(ResidentMerge, merge_id)
            assert row is not None
            row.merged_at = row.merged_at - timedelta(days=31)
            db_session.commit()
        finally:
            db_session.remove()
    return _goto(page, f"/staff/merges/{merge_id}/undo")


@visit("staff.merge_done", "merge undone")
def _undone(page: Page, site: Site) -> Response:
    _undo(page, site)
    site.fill({"reason": "A mother and daughter with the same name"})
    page.get_by_label("I have checked that these are two different people").check()
    return site.submit("Undo the merge")


def _merged_id(site: Site) -> str:
    with site.app.app_context():
        try:
            return str(db_session.scalars(select(ResidentMerge.merged_id)).one())
        finally:
            db_session.remove()


@visit("staff.record", "merged into another")
def _record_merged(page: Page, site: Site) -> Response:
    _merged(page, site)
    page.goto(f"/staff/residents/{_merged_id(site)}/open")
    page.get_by_label("Face to face").check()
    site.fill({"reason": "Checking the merged record"})
    return site.submit("Open record")


@visit("staff.search", "a merged record by its reference")
def _search_merged(page: Page, site: Site) -> Response:
    _merged(page, site)
    page.goto("/staff/search")
    site.fill({"reference": _merged_id(site)})
    return site.submit("Search")
