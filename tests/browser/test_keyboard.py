"""Using the service by keyboard alone: a whole journey with Tab, Shift+Tab, Space and
Enter, error summary links that take you to the field, and a visible focus style on every
link, button and field people can reach.
"""

from __future__ import annotations

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from tests.browser.site import REGISTRATION, Site
from tests.factories import DEFAULT_PASSWORD

ACTIVE_ID = "() => document.activeElement ? document.activeElement.id : ''"
ACTIVE_TEXT = "() => (document.activeElement.innerText || '').trim()"


def tab_until(page: Page, *, element_id: str = "", text: str = "", limit: int = 60) -> None:
    """Press Tab until the element with this id (or link/button text) has focus."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if element_id and page.evaluate(ACTIVE_ID) == element_id:
            return
        if text and page.evaluate(ACTIVE_TEXT) == text:
            return
    pytest.fail(f"could not reach {element_id or text!r} with the Tab key")


def focused(page: Page) -> str:
    return str(page.evaluate(ACTIVE_ID))


#: The registration form's fields in the order Tab must visit them.
REGISTER_ORDER = [
    "given_name",
    "family_name",
    "date_of_birth-day",
    "date_of_birth-month",
    "date_of_birth-year",
    "address_line_1",
    "address_line_2",
    "town",
    "postcode",
    "email",
    "phone",
    "password",
    "password_confirm",
]


@pytest.mark.browser
def test_register_confirm_and_sign_in_by_keyboard_alone(page: Page, live_app: Flask) -> None:
    site = Site(live_app, page)
    answers = {**REGISTRATION, "email": "keyboard@example.com"}
    page.goto("/")
    tab_until(page, text="Create an account")
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("Create a Kent account")

    # Submitting with nothing filled in: the error summary's links lead to the fields.
    tab_until(page, text="Create account")
    page.keyboard.press("Space")
    expect(page.locator(".kc-error-summary")).to_be_visible()
    tab_until(page, text="Enter your first name")
    page.keyboard.press("Enter")
    expect(page.locator("#given_name")).to_be_focused()

    # Fill in every field in order; Tab visits them in the order they are shown.
    for index, field_id in enumerate(REGISTER_ORDER):
        if index:
            page.keyboard.press("Tab")
        assert focused(page) == field_id, f"Tab went to {focused(page)!r}, not {field_id!r}"
        page.keyboard.press("Control+A")
        page.keyboard.type(answers.get(field_id, ""))
    page.keyboard.press("Shift+Tab")
    assert focused(page) == "password", "Shift+Tab does not go back to the previous field"
    page.keyboard.press("Tab")
    tab_until(page, text="Create account")
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("Check your email to finish creating your account")

    page.goto(site.link("confirm_email"))  # opening the link in the email
    expect(page.locator("h1")).to_have_text("Email address confirmed")
    tab_until(page, text="Sign in to your account")
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("Sign in to your Kent account")
    tab_until(page, element_id="email")
    page.keyboard.type(answers["email"])
    page.keyboard.press("Tab")
    page.keyboard.type(answers["password"])
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("Your account")
    expect(page.locator(".kc-caption-l")).to_have_text("Grace Hopper")


@pytest.mark.browser
def test_radios_and_checkboxes_work_with_the_keyboard(page: Page, live_app: Flask) -> None:
    site = Site(live_app, page)
    site.sign_in(site.resident())
    page.goto("/account/change/alternative-formats")
    first = page.locator("input[name=alternative_formats]").first
    tab_until(page, element_id=str(first.get_attribute("id")))
    page.keyboard.press("Space")
    expect(first).to_be_checked()
    tab_until(page, text="Save changes")
    page.keyboard.press("Enter")
    expect(page.locator(".kc-notification-banner--success")).to_contain_text("saved")

    page.goto("/account/change/text-relay")
    tab_until(page, element_id="text_relay-no")  # the current answer has focus in the group
    page.keyboard.press("ArrowUp")
    expect(page.locator("#text_relay-yes")).to_be_checked()


# Visible focus ---------------------------------------------------------------------------

#: Focus must change one of these visibly: an outline, a box shadow, the background or the
#: border. A change of text colour alone is not enough to see.
SNAPSHOT_JS = """
(el) => {
  const custom = el.matches('.kc-checkboxes__input, .kc-radios__input');
  const target = custom ? document.querySelector(`label[for="${el.id}"]`) : el;
  const s = getComputedStyle(target, custom ? '::before' : null);
  return {outline: s.outlineStyle === 'none' || parseFloat(s.outlineWidth) < 2
                   || s.outlineColor === 'rgba(0, 0, 0, 0)' || s.outlineColor === 'transparent'
                   ? 'none' : `${s.outlineStyle} ${s.outlineWidth} ${s.outlineColor}`,
          boxShadow: s.boxShadow, background: s.backgroundColor,
          border: [s.borderTopColor, s.borderRightColor, s.borderBottomColor,
                   s.borderLeftColor].join(' ')};
}
"""

DESCRIBE_JS = """
(el) => `${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''} "${
  (el.innerText || el.value || el.getAttribute('aria-label') || '').trim().slice(0, 40)}"`
"""


def assert_focus_is_visible_on_everything(page: Page, label: str) -> int:
    """Tab through the whole page; each stop must look different with focus. Returns the
    number of stops."""
    # A click that submits a form returns once the navigation starts; the snapshots below
    # are only meaningful once the new page's stylesheet has been applied.
    page.wait_for_load_state("load")
    page.evaluate(f"""() => {{
        const snap = {SNAPSHOT_JS};
        window.__kcBefore = new Map();
        document.querySelectorAll('a[href], button, input, select, textarea, summary, [tabindex]')
          .forEach(el => window.__kcBefore.set(el, snap(el)));
    }}""")
    seen: list[str] = []
    invisible: list[str] = []
    for _ in range(120):
        page.keyboard.press("Tab")
        result = page.evaluate(f"""() => {{
            const el = document.activeElement;
            if (!el || el === document.body) return null;
            if (window.__kcSeen && window.__kcSeen.has(el)) return null;
            (window.__kcSeen = window.__kcSeen || new Set()).add(el);
            const before = window.__kcBefore.get(el);
            const after = ({SNAPSHOT_JS})(el);
            const changed = !before || Object.keys(after).some(k => k !== 'outline'
                && after[k] !== before[k]) || (after.outline !== 'none'
                && after.outline !== before.outline);
            return {{name: ({DESCRIBE_JS})(el), changed}};
        }}""")
        if result is None:
            break
        seen.append(result["name"])
        if not result["changed"]:
            invisible.append(result["name"])
    else:
        pytest.fail(f"Tab never left {label}")
    assert invisible == [], f"no visible focus style on {label}: {invisible}"
    return len(seen)


@pytest.mark.browser
def test_every_reachable_element_shows_focus(page: Page, live_app: Flask) -> None:
    site = Site(live_app, page)
    page.goto("/")
    assert assert_focus_is_visible_on_everything(page, "home") >= 8
    page.goto("/register")
    page.get_by_role("button", name="Create account").click()
    expect(page.locator(".kc-error-summary")).to_be_visible()
    assert assert_focus_is_visible_on_everything(page, "register with errors") >= 20

    someone = site.resident()
    site.sign_in(someone, DEFAULT_PASSWORD)
    for path in [
        "/account",
        "/account/activity",
        "/account/change/language",
        "/account/change/alternative-formats",
        "/account/change/date-of-birth",
        "/account/security/authenticator-app",
        "/account/close",
    ]:
        page.goto(path)
        assert assert_focus_is_visible_on_everything(page, path) >= 5


@pytest.mark.browser
def test_focus_check_notices_an_element_without_a_focus_style(page: Page) -> None:
    page.set_content(
        "<!DOCTYPE html><html lang='en'><head><title>No focus</title><style>"
        "a:focus{outline:none} button:focus{outline:3px solid #fd0}</style></head><body>"
        "<main><h1>No focus</h1><a href='#x'>Invisible</a><button>Fine</button></main>"
        "</body></html>"
    )
    with pytest.raises(AssertionError, match="Invisible"):
        assert_focus_is_visible_on_everything(page, "faulty page")
