"""Every page the app can show has a browser accessibility check.

Walks ``app.url_map`` rather than a hand-kept list, so a new page without an entry in
``tests/browser/pages.py`` fails here. Needs no browser.
"""

from __future__ import annotations

from flask import Flask

from idservice.web.account_settings import CHANGE_PAGES
from tests.browser.pages import (
    EXCLUDED_PREFIXES,
    NOT_FOUND,
    NOT_PAGES,
    VISITS,
    covered_endpoints,
)


def html_get_endpoints(app: Flask) -> set[str]:
    endpoints = set()
    for rule in app.url_map.iter_rules():
        if "GET" not in (rule.methods or set()) or rule.endpoint in NOT_PAGES:
            continue
        if rule.rule.startswith(EXCLUDED_PREFIXES):
            continue
        endpoints.add(rule.endpoint)
    return endpoints


def test_every_page_has_a_browser_accessibility_check(app: Flask) -> None:
    covered = covered_endpoints()
    missing = sorted(html_get_endpoints(app) - set(covered))
    assert missing == [], f"pages with no axe check in tests/browser/pages.py: {missing}"


def test_the_list_of_checked_pages_is_not_stale(app: Flask) -> None:
    known = {rule.endpoint for rule in app.url_map.iter_rules()} | {NOT_FOUND}
    assert sorted(set(covered_endpoints()) - known) == []


def test_form_pages_are_checked_with_their_errors_showing(app: Flask) -> None:
    """A page that accepts POST is checked with its error summary showing, too."""
    with_errors = {v.endpoint for v in VISITS if v.errors}
    forms = {
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if {"GET", "POST"} <= (rule.methods or set()) and rule.endpoint in html_get_endpoints(app)
    }
    assert "accounts.register" in forms
    assert sorted(forms - with_errors) == []


def test_every_change_page_is_checked_normally_and_with_an_error() -> None:
    states = covered_endpoints()["accounts.change_details"]
    for slug in CHANGE_PAGES:
        assert slug in states and f"{slug}, error" in states, slug


def test_routes_left_out_really_are_not_pages(app: Flask) -> None:
    """Nothing may hide in NOT_PAGES: each answers with something other than HTML."""
    client = app.test_client()
    for rule in app.url_map.iter_rules():
        if rule.endpoint not in NOT_PAGES:
            continue
        path = rule.rule.replace("<path:filename>", "css/kentcard.css")
        response = client.get(path)
        assert response.status_code in (200, 401), path  # userinfo wants a bearer token
        assert response.mimetype != "text/html", f"{rule.endpoint} returns HTML"


def test_inventory_notices_a_new_page() -> None:
    """The walk can fail: a new page is reported; a provider route and JSON are not."""
    other = Flask("probe")
    other.add_url_rule("/brand-new-page", "accounts.brand_new_page", lambda: "<h1>New</h1>")
    other.add_url_rule("/oauth/authorize", "oauth.authorize", lambda: "")
    other.add_url_rule("/healthz", "core.healthz", lambda: {})
    assert html_get_endpoints(other) - set(covered_endpoints()) == {"accounts.brand_new_page"}
