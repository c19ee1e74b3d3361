"""The accessibility check itself can fail: a page with known faults must be caught."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from tests.browser.axe import assert_accessible, axe_violations


@pytest.mark.browser
def test_axe_reports_an_unlabelled_field_and_low_contrast(page: Page) -> None:
    page.set_content(
        "<!DOCTYPE html><html lang='en'><head><title>Faulty</title></head><body><main>"
        "<h1>Faulty</h1><input type='text' name='x'>"
        "<p style='color:#bbb;background:#fff'>Hard to read</p></main></body></html>"
    )
    ids = {v["id"] for v in axe_violations(page)}
    assert {"label", "color-contrast"} <= ids


@pytest.mark.browser
def test_reflow_check_catches_a_page_wider_than_320px(page: Page) -> None:
    page.set_content(
        "<!DOCTYPE html><html lang='en'><head><title>Wide</title>"
        "<meta name='viewport' content='width=device-width'></head><body><main>"
        "<h1>Wide</h1><div style='width:600px'>Too wide</div></main></body></html>"
    )
    with pytest.raises(AssertionError, match="scrolls sideways"):
        assert_accessible(page, label="wide page")
