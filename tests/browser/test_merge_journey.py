"""A Gateway team leader, with JavaScript off, checks a pair of records made online, merges
them from the review page and then undoes the merge. (axe-core needs JavaScript: each of
these pages is checked with it in ``merge_pages.py``.)"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from idservice.db import db_session
from idservice.models import PossibleDuplicate
from tests.browser.duplicate_pages import registered_twice
from tests.browser.site import Site
from tests.browser.staff_pages import staff_signed_in
from tests.conftest import LiveServer


@pytest.fixture
def no_js_page(browser: Browser, live_server: LiveServer) -> Iterator[Page]:
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def _pair_status(site: Site) -> str:
    with site.app.app_context():
        try:
            return str(db_session.scalars(select(PossibleDuplicate.status)).one())
        finally:
            db_session.remove()


@pytest.mark.browser
def test_a_team_leader_merges_a_pair_and_undoes_it(no_js_page: Page, live_app: Flask) -> None:
    page = no_js_page
    site = Site(live_app, page)
    pair_id = registered_twice(site)
    staff_signed_in(site, "gateway-team-leader")
    page.goto(f"/staff/duplicates/{pair_id}")
    page.get_by_role("link", name="Merge these records").click()
    # The record kept is opened first (channel and reason), then the merge page follows.
    expect(page.locator("h1")).to_have_text("Open a resident's record")
    page.get_by_label("Face to face").check()
    site.fill({"reason": "Checking a possible duplicate"})
    site.submit("Open record")
    expect(page.locator("h1")).to_have_text("Merge two records of one person")
    site.fill({"reason": "Registered online twice"})
    page.get_by_label("I have checked that both records are the same person").check()
    site.submit("Merge the records")
    expect(page.locator("h1")).to_have_text("Records merged")
    assert _pair_status(site) == "resolved-merged"
    page.get_by_role("link", name="Undo this merge").click()
    site.fill({"reason": "Two different people after all"})
    page.get_by_label("I have checked that these are two different people").check()
    site.submit("Undo the merge")
    expect(page.locator("h1")).to_have_text("Merge undone")
    assert _pair_status(site) == "resolved-not-same"
