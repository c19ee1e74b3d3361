"""The staff console's pages and states, added to the one list in ``pages.py``.

Imported at the end of ``pages.py`` so that ``test_account_pages.py`` checks each in
Chromium and ``test_page_inventory.py`` counts them as covered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from playwright.sync_api import Page, Response

from entitlements.facts import Address, FactName
from hardware.virtual_card import InProcessConnection, VirtualKentCard
from idservice.cards import issuance
from idservice.cards.issuer_keys import issuer_store
from idservice.db import db_session
from idservice.models import Resident, StaffMember
from idservice.services import facts
from tests.browser.pages import _expire_csrf, _goto, _uncheck_all, visit
from tests.browser.site import Site
from tests.factories import STAFF_PASSWORD, create_staff, sign_in_staff
from tests.staff.test_console import NEW_RESIDENT


@dataclass(frozen=True)
class Officer:
    id: str
    email: str
    secret: str | None


def new_officer(site: Site, role: str = "gateway-officer", **overrides: Any) -> Officer:
    with site.app.app_context():
        try:
            staff = create_staff(role=role, **overrides)
            return Officer(staff.id, staff.email, staff.totp_secret)
        finally:
            db_session.remove()


def staff_signed_in(site: Site, role: str = "gateway-officer") -> Officer:
    """A staff session cookie without the sign-in pages (which have visits of their own)."""
    officer = new_officer(site, role)
    client = site.app.test_client()
    with site.app.app_context():
        try:
            staff = db_session.get(StaffMember, officer.id)
            assert staff is not None
            sign_in_staff(site.app, client, staff)
        finally:
            db_session.remove()
    name = site.app.config["SESSION_COOKIE_NAME"]
    cookie = client.get_cookie(name)
    assert cookie is not None
    live = site.app.config["KENTCARD"].issuer
    site.page.context.add_cookies([{"name": name, "value": cookie.value, "url": live}])
    return officer


def staff_sign_in(site: Site, officer: Officer, password: str = STAFF_PASSWORD) -> Response:
    site.page.goto("/staff/sign-in")
    site.fill({"email": officer.email, "password": password})
    return site.submit("Sign in")


def open_record(page: Page, site: Site, role: str = "gateway-officer") -> str:
    """Signed in, a resident's record open; the resident's id."""
    resident = site.resident()
    staff_signed_in(site, role)
    page.goto(f"/staff/residents/{resident.id}/open")
    page.get_by_label("Face to face").check()
    site.fill({"reason": "Resident at the desk asking for help"})
    site.submit("Open record")
    return resident.id


# Signing in ------------------------------------------------------------------------------


@visit("staff.sign_in")
def _sign_in(page: Page, site: Site) -> Response:
    return _goto(page, "/staff/sign-in")


@visit("staff.sign_in", "wrong password", status=400, errors="fields")
def _sign_in_wrong(page: Page, site: Site) -> Response:
    return staff_sign_in(site, new_officer(site), "not the password")


@visit("staff.sign_in_code")
def _code(page: Page, site: Site) -> Response:
    return staff_sign_in(site, new_officer(site))


@visit("staff.sign_in_code", "wrong code", status=400, errors="fields")
def _code_wrong(page: Page, site: Site) -> Response:
    _code(page, site)
    site.fill({"code": "000000"})
    return site.submit("Continue")


@visit("staff.set_up_authenticator", "first sign-in")
def _set_up(page: Page, site: Site) -> Response:
    return staff_sign_in(site, new_officer(site, authenticator=False))


@visit("staff.set_up_authenticator", "empty code", status=400, errors="fields")
def _set_up_empty(page: Page, site: Site) -> Response:
    _set_up(page, site)
    return site.submit("Continue")


@visit("staff.sign_out", "sign-out page")
def _sign_out(page: Page, site: Site) -> Response:
    staff_signed_in(site)
    return _goto(page, "/staff/sign-out")


@visit("staff.sign_out", "expired page", status=400, errors="form")
def _sign_out_expired(page: Page, site: Site) -> Response:
    _sign_out(page, site)
    _expire_csrf(page)
    return site.submit("Sign out")


@visit("staff.signed_out")
def _signed_out(page: Page, site: Site) -> Response:
    _sign_out(page, site)
    return site.submit("Sign out")


# The console -----------------------------------------------------------------------------


@visit("staff.home", "Gateway officer")
def _home(page: Page, site: Site) -> Response:
    staff_signed_in(site)
    return _goto(page, "/staff/")


@visit("staff.home", "auditor")
def _home_auditor(page: Page, site: Site) -> Response:
    staff_signed_in(site, "auditor")
    return _goto(page, "/staff/")


@visit("staff.search")
def _search(page: Page, site: Site) -> Response:
    staff_signed_in(site)
    return _goto(page, "/staff/search")


@visit("staff.search", "results")
def _search_results(page: Page, site: Site) -> Response:
    site.resident()
    site.resident(given_name="Adam")
    _search(page, site)
    site.fill({"postcode": "ME14 1XQ"})
    return site.submit("Search")


@visit("staff.search", "nothing to search by", status=400, errors="form")
def _search_empty(page: Page, site: Site) -> Response:
    _search(page, site)
    return site.submit("Search")


@visit("staff.search", "name without date of birth", status=400, errors="fields")
def _search_bad(page: Page, site: Site) -> Response:
    _search(page, site)
    site.fill({"family_name": "Lovelace", "email": "not an email"})
    return site.submit("Search")


@visit("staff.search", "not allowed", status=403)
def _search_forbidden(page: Page, site: Site) -> Response:
    staff_signed_in(site, "auditor")
    return _goto(page, "/staff/search")


@visit("staff.open_record")
def _open(page: Page, site: Site) -> Response:
    resident = site.resident()
    staff_signed_in(site)
    return _goto(page, f"/staff/residents/{resident.id}/open")


@visit("staff.open_record", "no reason", status=400, errors="fields")
def _open_no_reason(page: Page, site: Site) -> Response:
    _open(page, site)
    return site.submit("Open record")


@visit("staff.record")
def _record(page: Page, site: Site) -> Response:
    resident_id = open_record(page, site)
    return _goto(page, f"/staff/residents/{resident_id}")


@visit("staff.record", "transport officer")
def _record_transport(page: Page, site: Site) -> Response:
    resident_id = open_record(page, site, "transport-officer")
    return _goto(page, f"/staff/residents/{resident_id}")


STAFF_CHANGE_ERRORS: dict[str, Callable[[Page, Site], None]] = {
    "name": lambda page, site: site.fill({"given_name": "", "family_name": ""}),
    "date-of-birth": lambda page, site: site.fill({"date_of_birth-year": "19x"}),
    "address": lambda page, site: site.fill({"address_line_1": "", "postcode": "?"}),
    "phone": lambda page, site: site.fill({"phone": "not a number"}),
    "language": lambda page, site: _uncheck_all(page, "language"),
    "alternative-formats": lambda page, site: _expire_csrf(page),
    "text-relay": lambda page, site: _uncheck_all(page, "text_relay"),
}


def _change_visits(slug: str) -> None:
    @visit("staff.change_details", slug)
    def _normal(page: Page, site: Site) -> Response:
        resident_id = open_record(page, site)
        return _goto(page, f"/staff/residents/{resident_id}/change/{slug}")

    errors = "form" if slug == "alternative-formats" else "fields"

    @visit("staff.change_details", f"{slug}, error", status=400, errors=errors)
    def _error(page: Page, site: Site) -> Response:
        _normal(page, site)
        STAFF_CHANGE_ERRORS[slug](page, site)
        return site.submit("Save changes")


for _slug in STAFF_CHANGE_ERRORS:
    _change_visits(_slug)


@visit("staff.record_evidence")
def _evidence(page: Page, site: Site) -> Response:
    resident_id = open_record(page, site)
    return _goto(page, f"/staff/residents/{resident_id}/evidence")


@visit("staff.record_evidence", "no answers", status=400, errors="fields")
def _evidence_empty(page: Page, site: Site) -> Response:
    _evidence(page, site)
    return site.submit("Continue")


def _evidence_document(page: Page, site: Site, label: str, **resident: Any) -> Response:
    """The evidence form's second step, reached through the first as an officer would."""
    person = site.resident(**resident)
    staff_signed_in(site)
    page.goto(f"/staff/residents/{person.id}/open")
    page.get_by_label("Face to face").check()
    site.fill({"reason": "Resident at the desk with a document"})
    site.submit("Open record")
    page.goto(f"/staff/residents/{person.id}/evidence")
    page.get_by_label(label, exact=True).check()
    return site.submit("Continue")


@visit("staff.record_evidence_document", "passport")
def _evidence_passport(page: Page, site: Site) -> Response:
    return _evidence_document(page, site, "Passport")


@visit(
    "staff.record_evidence_document",
    "driving licence, nothing confirmed",
    status=400,
    errors="fields",
)
def _evidence_licence_unconfirmed(page: Page, site: Site) -> Response:
    _evidence_document(page, site, "Photocard driving licence")
    site.fill({"reference": "LOVEL612106AA9XY"})
    return site.submit("Record")


@visit("staff.record_evidence_document", "bill for a boundary postcode")
def _evidence_boundary_bill(page: Page, site: Site) -> Response:
    return _evidence_document(page, site, "Council Tax bill", postcode="ME5 9AA")


@visit(
    "staff.record_evidence_document", "award letter, no award chosen", status=400, errors="fields"
)
def _evidence_award_letter(page: Page, site: Site) -> Response:
    _evidence_document(
        page, site, "Benefit award letter from the DWP (PIP, DLA, War Pension, AFCS)"
    )
    site.fill({"reference": "QQ123456C", "award_ends-day": "1", "award_ends-month": "13"})
    return site.submit("Record")


@visit("staff.register_resident")
def _register(page: Page, site: Site) -> Response:
    staff_signed_in(site, "library-staff")
    return _goto(page, "/staff/residents/new")


@visit("staff.register_resident", "mistakes", status=400, errors="fields")
def _register_bad(page: Page, site: Site) -> Response:
    _register(page, site)
    site.fill({k: v for k, v in NEW_RESIDENT.items() if k != "channel"})
    site.fill({"postcode": "nowhere", "email": "bad@"})
    return site.submit("Register resident")


@visit("staff.audit_records")
def _audit(page: Page, site: Site) -> Response:
    resident_id = open_record(page, site)
    staff_signed_in(site, "auditor")
    page.goto("/staff/audit")
    site.fill({"resident": resident_id})
    return site.submit("Show records")


@visit("staff.audit_records", "bad reference", status=400, errors="fields")
def _audit_bad(page: Page, site: Site) -> Response:
    staff_signed_in(site, "auditor")
    page.goto("/staff/audit")
    site.fill({"resident": "someone"})
    return site.submit("Show records")


# Kent Cards ------------------------------------------------------------------------------


def _card_for(site: Site, resident_id: str) -> str:
    """An active card on the resident's record, issued through the service; its id."""
    store = issuer_store(site.app.config["KENTCARD"].instance_path, create_development=True)
    issuer = store.load() if store.exists() else store.init()
    with site.app.app_context():
        try:
            staff = create_staff()
            actor = issuance.CounterActor(staff.id, staff.role)
            order = issuance.order_card(actor, resident_id)
            blank = VirtualKentCard.blank(issuer.personalisation_key.public_point)
            card = issuance.personalise_card(actor, order.id, InProcessConnection(blank), "1357")
            return card.id
        finally:
            db_session.remove()


@visit("staff.record", "with a Kent Card")
def _record_with_card(page: Page, site: Site) -> Response:
    resident_id = open_record(page, site)
    _card_for(site, resident_id)
    return _goto(page, f"/staff/residents/{resident_id}")


@visit("staff.issue_card")
def _issue(page: Page, site: Site) -> Response:
    resident_id = open_record(page, site)
    return _goto(page, f"/staff/residents/{resident_id}/cards/issue")


@visit("staff.issue_card", "PINs differ", status=400, errors="fields")
def _issue_pins_differ(page: Page, site: Site) -> Response:
    _issue(page, site)
    site.fill({"pin": "4826", "pin_confirm": "4862"})
    return site.submit("Issue card")


@visit("staff.issue_card", "replacing")
def _replace(page: Page, site: Site) -> Response:
    resident_id = open_record(page, site)
    _card_for(site, resident_id)
    return _goto(page, f"/staff/residents/{resident_id}/cards/issue")


@visit("staff.issue_card", "replacing, nothing chosen", status=400, errors="fields")
def _replace_empty(page: Page, site: Site) -> Response:
    _replace(page, site)
    return site.submit("Replace card")


@visit("staff.issue_card", "not allowed", status=403)
def _issue_forbidden(page: Page, site: Site) -> Response:
    resident_id = open_record(page, site, "transport-officer")
    return _goto(page, f"/staff/residents/{resident_id}/cards/issue")


@visit("staff.unblock_pin")
def _unblock(page: Page, site: Site) -> Response:
    resident_id = open_record(page, site)
    card_id = _card_for(site, resident_id)
    return _goto(page, f"/staff/residents/{resident_id}/cards/{card_id}/unblock-pin")


@visit("staff.unblock_pin", "PINs differ", status=400, errors="fields")
def _unblock_pins_differ(page: Page, site: Site) -> Response:
    _unblock(page, site)
    site.fill({"pin": "4826", "pin_confirm": "4862"})
    return site.submit("Unblock PIN")


@visit("staff.unblock_pin", "not allowed", status=403)
def _unblock_forbidden(page: Page, site: Site) -> Response:
    resident_id = open_record(page, site, "transport-officer")
    card_id = _card_for(site, resident_id)
    return _goto(page, f"/staff/residents/{resident_id}/cards/{card_id}/unblock-pin")


@visit("staff.report_card")
def _report(page: Page, site: Site) -> Response:
    resident_id = open_record(page, site)
    card_id = _card_for(site, resident_id)
    return _goto(page, f"/staff/residents/{resident_id}/cards/{card_id}/report")


@visit("staff.report_card", "nothing chosen", status=400, errors="fields")
def _report_empty(page: Page, site: Site) -> Response:
    _report(page, site)
    return site.submit("Report card")


# Adding a service for a resident, facts and requests (issue 4) ----------------------------


def _open_older_record(page: Page, site: Site, role: str = "gateway-officer") -> str:
    """A resident past bus pass age, their record open; the resident's id."""
    resident = site.resident(date_of_birth=date(1948, 6, 2))
    staff_signed_in(site, role)
    page.goto(f"/staff/residents/{resident.id}/open")
    page.get_by_label("Face to face").check()
    site.fill({"reason": "Resident at the desk asking for a bus pass"})
    site.submit("Open record")
    return resident.id


def _staff_request(page: Page, site: Site, role: str = "gateway-officer") -> str:
    resident_id = _open_older_record(page, site, role)
    page.goto(f"/staff/residents/{resident_id}/services/bus-pass-older/check")
    site.submit("Send request")
    return resident_id


@visit("staff.record", "offers: the resident can now get")
def _staff_record_offers(page: Page, site: Site) -> Response:
    resident_id = _open_older_record(page, site)
    return _goto(page, f"/staff/residents/{resident_id}")


@visit("staff.service_not_interested")
def _staff_not_interested(page: Page, site: Site) -> Response:
    _staff_record_offers(page, site)
    action = page.locator("#main-content form[action*='not-interested']").first.get_attribute(
        "action"
    )
    assert action is not None
    return _goto(page, action)


@visit("staff.service_not_interested", "expired page", status=400, errors="form")
def _staff_not_interested_expired(page: Page, site: Site) -> Response:
    _staff_not_interested(page, site)
    _expire_csrf(page)
    return site.submit("Not interested")


@visit("staff.record", "not interested: back on the record")
def _staff_not_interested_done(page: Page, site: Site) -> Response:
    _staff_record_offers(page, site)
    return site.submit(
        "Not interested in Older person's bus pass (English National Concessionary Travel Scheme)"
    )


@visit("staff.services")
def _staff_services(page: Page, site: Site) -> Response:
    resident_id = _open_older_record(page, site)
    return _goto(page, f"/staff/residents/{resident_id}/services")


@visit("staff.services", "one waiting")
def _staff_services_waiting(page: Page, site: Site) -> Response:
    resident_id = _staff_request(page, site)
    return _goto(page, f"/staff/residents/{resident_id}/services")


@visit("staff.service_start")
def _staff_service_start(page: Page, site: Site) -> Response:
    resident_id = _open_older_record(page, site)
    return _goto(page, f"/staff/residents/{resident_id}/services/bus-pass-older")


@visit("staff.service_question")
def _staff_question(page: Page, site: Site) -> Response:
    resident_id = _open_older_record(page, site)
    return _goto(
        page, f"/staff/residents/{resident_id}/services/blue-badge/question/qualifying_award"
    )


@visit("staff.service_question", "nothing chosen", status=400, errors="fields")
def _staff_question_empty(page: Page, site: Site) -> Response:
    _staff_question(page, site)
    return site.submit("Continue")


@visit("staff.service_check")
def _staff_check(page: Page, site: Site) -> Response:
    resident_id = _open_older_record(page, site)
    return _goto(page, f"/staff/residents/{resident_id}/services/bus-pass-older/check")


@visit("staff.service_check", "expired page", status=400, errors="form")
def _staff_check_expired(page: Page, site: Site) -> Response:
    _staff_check(page, site)
    _expire_csrf(page)
    return site.submit("Send request")


@visit("staff.service_outcome", "granted")
def _staff_granted(page: Page, site: Site) -> Response:
    resident_id = _open_older_record(page, site)
    page.goto(f"/staff/residents/{resident_id}/services/library/check")
    return site.submit("Add this service")


@visit("staff.service_outcome", "waiting")
def _staff_waiting(page: Page, site: Site) -> Response:
    resident_id = _staff_request(page, site)
    return _goto(page, f"/staff/residents/{resident_id}/services/bus-pass-older/outcome")


@visit("staff.record_fact")
def _record_fact(page: Page, site: Site) -> Response:
    resident_id = _open_older_record(page, site)
    return _goto(page, f"/staff/residents/{resident_id}/facts/new")


@visit("staff.record_fact", "nothing chosen", status=400, errors="fields")
def _record_fact_none(page: Page, site: Site) -> Response:
    _record_fact(page, site)
    return site.submit("Continue")


def _fact_page(page: Page, site: Site, fact: str) -> Response:
    resident_id = _open_older_record(page, site)
    return _goto(page, f"/staff/residents/{resident_id}/facts/{fact}")


#: A mistake for each kind of question the "Record a fact" forms ask.
FACT_MISTAKES: dict[str, Callable[[Page, Site], None]] = {
    "date_of_birth": lambda page, site: site.fill(
        {"date_of_birth-day": "31", "date_of_birth-month": "2", "date_of_birth-year": "1948"}
    ),
    "address": lambda page, site: site.fill({"uprn": "12 High St"}),
    "works_in_kent": lambda page, site: site.fill({"reference": "12"}),
    "school_year": lambda page, site: page.get_by_label("Year group").select_option("9"),
    "disability": lambda page, site: site.fill({"expires_on-day": "1"}),
    "blue_badge_decision": lambda page, site: page.get_by_label("Yes", exact=True).check(),
    "qualifying_award": lambda page, site: site.fill({"reference": "QQ123456C"}),
}


def _fact_visits(fact: str) -> None:
    @visit("staff.record_fact_value", fact)
    def _normal(page: Page, site: Site) -> Response:
        return _fact_page(page, site, fact)

    if fact in FACT_MISTAKES:

        @visit("staff.record_fact_value", f"{fact}, mistakes", status=400, errors="fields")
        def _mistakes(page: Page, site: Site) -> Response:
            _fact_page(page, site, fact)
            FACT_MISTAKES[fact](page, site)
            return site.submit("Record")


for _fact in (
    "date_of_birth",
    "address",
    "lives_in_kent",
    "works_in_kent",
    "studies_in_kent",
    "school_year",
    "full_time_education",
    "disability",
    "blue_badge_decision",
    "qualifying_award",
    "parental_consent",
    "needs_companion",
):
    _fact_visits(_fact)


def _evidence_seen(site: Site, resident_id: str) -> None:
    """As if a Gateway officer had recorded a passport and a bill (their pages have visits
    of their own): the date of birth and address checked."""
    with site.app.app_context():
        try:
            resident = db_session.get(Resident, resident_id)
            assert resident is not None
            by = facts.Recorder("staff", "demo-officer", "face-to-face", "gateway-officer")
            for name, value, kind in (
                (FactName.DATE_OF_BIRTH, resident.date_of_birth, "passport"),
                (FactName.ADDRESS, Address(resident.postcode), "council-tax-bill"),
            ):
                facts.record_seen(
                    resident, name, value, evidence_type=kind, evidence_last4="1234", by=by
                )
            db_session.commit()
        finally:
            db_session.remove()


@visit("staff.record", "request ready to decide")
def _record_ready(page: Page, site: Site) -> Response:
    resident_id = _staff_request(page, site)
    _evidence_seen(site, resident_id)
    return _goto(page, f"/staff/residents/{resident_id}")


@visit("staff.record", "request waiting for evidence")
def _record_waiting(page: Page, site: Site) -> Response:
    resident_id = _staff_request(page, site)
    return _goto(page, f"/staff/residents/{resident_id}")


@visit("staff.decide_request", "ready to decide")
def _decide_ready(page: Page, site: Site) -> Response:
    _staff_request(page, site)
    page.get_by_role("link", name="Decide the request").click()
    _evidence_seen(site, page.url.split("/")[-3])
    return _goto(page, page.url)


@visit("staff.requests")
def _requests(page: Page, site: Site) -> Response:
    _staff_request(page, site)
    return _goto(page, "/staff/requests")


@visit("staff.requests", "not allowed", status=403)
def _requests_forbidden(page: Page, site: Site) -> Response:
    staff_signed_in(site, "library-staff")
    return _goto(page, "/staff/requests")


def _decide(page: Page, site: Site) -> Response:
    _staff_request(page, site)
    page.get_by_role("link", name="Decide the request").click()
    return _goto(page, page.url)


@visit("staff.decide_request")
def _decide_request(page: Page, site: Site) -> Response:
    return _decide(page, site)


@visit("staff.decide_request", "approved too early", status=400, errors="form")
def _decide_too_early(page: Page, site: Site) -> Response:
    _decide(page, site)
    page.get_by_label("Approve: grant the service now").check()
    return site.submit("Save decision")


@visit("staff.decide_request", "refused without a reason", status=400, errors="fields")
def _decide_no_reason(page: Page, site: Site) -> Response:
    _decide(page, site)
    page.get_by_label("Refuse", exact=True).check()
    return site.submit("Save decision")
