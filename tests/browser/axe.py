"""Accessibility checks in the browser: axe-core at WCAG 2.2 AA, reflow at 320 px."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import Page

AXE_JS = Path(__file__).resolve().parent.parent / "js" / "node_modules" / "axe-core" / "axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


def axe_violations(page: Page) -> list[dict[str, Any]]:
    if not AXE_JS.exists():
        raise AssertionError(f"axe-core missing at {AXE_JS}: run `make test` (npm ci in tests/js)")
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE_JS))
    result = page.evaluate(
        """async (tags) => {
            const r = await axe.run(document, {runOnly: {type: 'tag', values: tags},
                                               resultTypes: ['violations']});
            return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}));
        }""",
        WCAG_TAGS,
    )
    return list(result)


def assert_accessible(page: Page, *, label: str = "") -> None:
    """Zero axe violations, and no sideways scrolling at 320 CSS pixels (WCAG 1.4.10)."""
    violations = axe_violations(page)
    where = label or page.url
    assert violations == [], f"axe violations on {where}: {violations}"
    size = page.viewport_size
    page.set_viewport_size({"width": 320, "height": 640})
    try:
        overflow = page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        if overflow > 0:
            culprits = page.evaluate(
                """() => {
                    const width = document.documentElement.clientWidth;
                    return [...document.querySelectorAll('body *')]
                        .filter(e => e.getBoundingClientRect().right > width)
                        .slice(-5)
                        .map(e => e.tagName.toLowerCase() + '.' + e.className + ' '
                            + (e.textContent || '').trim().slice(0, 40));
                }"""
            )
            raise AssertionError(
                f"{where} scrolls sideways by {overflow}px at 320px wide: {culprits}"
            )
        narrow = axe_violations(page)
        assert narrow == [], f"axe violations at 320px on {where}: {narrow}"
    finally:
        if size:
            page.set_viewport_size(size)
