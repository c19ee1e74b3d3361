"""The staff console's pages. Each names the one action it performs from the permission
table; :func:`requires` checks it, and audits and refuses what the role may not do.

Opening a record asks how the resident is being helped and, for roles that must give one,
why; that "access" is remembered for the rest of the visit (30 minutes, this browser) and
is attached to every look and change that follows.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from datetime import date, datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from flask import (
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue

from entitlements.dates import long_date
from idservice.cards import counter_reader
from idservice.models.residents import ALTERNATIVE_FORMATS, LANGUAGES
from idservice.models.staff import StaffMember
from idservice.request_input import safe_next_url
from idservice.services import (
    add_service,
    duplicates,
    facts,
    ratelimit,
    reevaluation,
    service_offers,
)
from idservice.staff import auth, bp, identity, services
from idservice.staff.forms import (
    SEARCH_ERROR,
    AuditFilterForm,
    IssueCardForm,
    OpenRecordForm,
    OpenRecordReasonOptionalForm,
    RegisterResidentForm,
    ReplaceCardForm,
    ReportCardForm,
    SearchForm,
    UnblockPinForm,
)
from idservice.staff.permissions import (
    ACTION_PHRASES,
    Action,
    allowed,
    reason_required,
    role_title,
)
from idservice.validation import DIFFERENT_PERSON
from idservice.web.account_settings import CHANGE_PAGES, ChangePage
from idservice.web.forms import Form
from idservice.web.pages import FORM_ERROR, TOO_MANY, form_page

F = TypeVar("F", bound=Callable[..., Any])
UK = ZoneInfo("Europe/London")

ACCESS_KEY = "staff_access"
ACCESS_LIFETIME = int(auth.IDLE_TIMEOUT.total_seconds())
SEARCH_LIMIT = "staff-search"
REGISTERING = "Registering a new resident"

#: The residents' own change pages, titled for staff; the forms and saving are shared.
STAFF_CHANGE_PAGES = {
    slug: ChangePage(
        page.title.replace("your", "the resident's"), page.form, "Acting for the resident"
    )
    for slug, page in CHANGE_PAGES.items()
}


def _staff() -> StaffMember:
    staff = auth.current_staff()
    assert staff is not None  # requires() checked
    return staff


def requires(action: Action) -> Callable[[F], F]:
    """Signed in as staff, and the role may perform ``action``; otherwise a 403, audited."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            staff = auth.current_staff()
            if staff is None:
                return redirect(url_for("staff.sign_in", next=request.full_path.rstrip("?")))
            if not services.allowed_to(staff, action):
                services.record_refusal(staff, action, kwargs.get("resident_id"))
                return (
                    render_template(
                        "staff/forbidden.html",
                        doing=ACTION_PHRASES[action],
                        role=role_title(staff.role),
                    ),
                    403,
                )
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


# --- the access remembered for an open record ---------------------------------------------


def _remember(access: services.Access) -> None:
    now = int(time.time())
    opened = {
        rid: value
        for rid, value in dict(session.get(ACCESS_KEY) or {}).items()
        if now - int(value.get("at", 0)) <= ACCESS_LIFETIME
    }
    opened[access.resident_id] = {"channel": access.channel, "reason": access.reason, "at": now}
    # A few records at most: a counter serves one person at a time.
    session[ACCESS_KEY] = dict(sorted(opened.items(), key=lambda kv: kv[1]["at"])[-5:])


def _access(resident_id: str) -> services.Access | None:
    value = (session.get(ACCESS_KEY) or {}).get(resident_id)
    if not isinstance(value, dict) or time.time() - value.get("at", 0) > ACCESS_LIFETIME:
        return None
    return services.Access(resident_id, str(value["channel"]), value.get("reason"))


def _with_access(view: F) -> F:
    """Pages inside a record need it opened first (with a reason where one is required)."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        access = _access(kwargs["resident_id"])
        if access is None:
            return redirect(url_for("staff.open_record", resident_id=kwargs["resident_id"]))
        return view(*args, access=access, **kwargs)

    return wrapper  # type: ignore[return-value]


# --- pages --------------------------------------------------------------------------------


@bp.get("/")
@auth.staff_login_required
def home() -> str:
    return render_template("staff/home.html")


@bp.route("/search", methods=["GET", "POST"])
@requires(Action.SEARCH)
def search() -> ResponseReturnValue:
    staff = _staff()
    form = SearchForm(request.form if request.method == "POST" else None)
    outcome = None
    status = None
    if form.submitted and not ratelimit.allow(SEARCH_LIMIT, staff.id):
        form.add_error(SEARCH_ERROR, TOO_MANY)
        status = 429
    elif form.validate():
        query = services.ResidentQuery(**form.data)
        outcome = services.search(staff, query)
    return form_page("staff/search.html", form, status, outcome=outcome)


def _open_form(staff: StaffMember) -> type[Form]:
    return OpenRecordForm if reason_required(staff.role) else OpenRecordReasonOptionalForm


@bp.route("/residents/<resident_id>/open", methods=["GET", "POST"])
@requires(Action.VIEW_RECORD)
def open_record(resident_id: str) -> ResponseReturnValue:
    staff = _staff()
    services.require_resident(resident_id)
    form = _open_form(staff)(request.form if request.method == "POST" else None)
    after = _next_in_console(request.args.get("next"))
    if form.validate():
        access = services.Access(resident_id, form.data["channel"], form.data["reason"])
        services.open_record(staff, access)
        _remember(access)
        return redirect(after or url_for("staff.record", resident_id=resident_id))
    return form_page("staff/open_record.html", form, resident_id=resident_id, after=after)


def _next_in_console(target: str | None) -> str | None:
    """A page of the staff console to go to once the record is open (the merge page,
    reached from another record), or None: never anywhere else."""
    safe = safe_next_url(target, "")
    return safe if safe.startswith("/staff/") else None


def open_first(resident_id: str) -> ResponseReturnValue:
    """Ask for the record to be opened (channel and reason), then come back here."""
    return redirect(
        url_for("staff.open_record", resident_id=resident_id, next=request.full_path.rstrip("?"))
    )


@bp.get("/residents/<resident_id>")
@requires(Action.VIEW_RECORD)
@_with_access
def record(resident_id: str, access: services.Access) -> ResponseReturnValue:
    staff = _staff()
    # Staff who add services or record facts see the facts held and requests waiting.
    with_facts = allowed(staff.role, Action.ADD_SERVICE) or allowed(staff.role, Action.RECORD_FACT)
    view = services.view_record(
        staff,
        access,
        "record",
        with_cards=allowed(staff.role, Action.VIEW_CARDS),
        with_facts=with_facts,
    )
    can_add = allowed(staff.role, Action.ADD_SERVICE) and view.resident.is_active
    return render_template(
        "staff/record.html",
        view=view,
        held=facts.current_shown(resident_id) if with_facts else [],
        waiting=add_service.waiting_for_resident(resident_id, date.today()) if with_facts else [],
        fact_labels=facts.FACT_LABELS,
        long_date=long_date,
        offers=service_offers.open_offers(resident_id) if can_add else [],
        access=access,
        languages=LANGUAGES,
        formats=ALTERNATIVE_FORMATS,
        document_types=identity.DOCUMENT_TYPES,
        level_names=identity.LEVEL_NAMES,
        channels=services.STAFF_CHANNELS,
        change_pages=STAFF_CHANGE_PAGES,
        card_statuses=CARD_STATUSES,
        uk_time=_uk_time,
        possible_duplicates=duplicates.open_for_record(resident_id),
    )


@bp.route("/residents/<resident_id>/change/<slug>", methods=["GET", "POST"])
@requires(Action.CHANGE_DETAILS)
@_with_access
def change_details(resident_id: str, slug: str, access: services.Access) -> ResponseReturnValue:
    page = STAFF_CHANGE_PAGES.get(slug)
    if page is None:
        abort(404)
    staff = _staff()
    if request.method == "POST":
        form = page.form(request.form)
        if form.validate():
            changed = services.change_details(staff, access, page.changes(form.data))
            flash("The changes have been saved" if changed else "Nothing was changed", "success")
            follows = reevaluation.taken_result(resident_id)
            if follows is not None and (said := reevaluation.consequences(follows, for_staff=True)):
                flash(" ".join(said), "important")
            return redirect(url_for("staff.record", resident_id=resident_id))
    else:
        view = services.view_record(staff, access, f"change {slug}")
        form = page.form(initial=page.initial(view.resident))
    return form_page(
        "staff/change_details.html", form, page=page, slug=slug, resident_id=resident_id
    )


def _uk_time(at: datetime) -> str:
    return f"{at.astimezone(UK):%-d %B %Y, %H:%M:%S}"


#: Card statuses in words for staff.
CARD_STATUSES = {
    "ordered": "Not finished: cannot be used",
    "personalised": "Not activated: cannot be used",
    "active": "Active",
    "hotlisted": "Reported",
    "expired": "Expired",
    "replaced": "Replaced",
    "spoiled": "Spoiled at issue: never worked, number not reused",
}


@bp.route("/residents/<resident_id>/cards/<card_id>/report", methods=["GET", "POST"])
@requires(Action.REPORT_CARD)
@_with_access
def report_card(resident_id: str, card_id: str, access: services.Access) -> ResponseReturnValue:
    staff = _staff()
    card = services.card_on_record(access, card_id)
    form = ReportCardForm(request.form if request.method == "POST" else None)
    if form.validate():
        try:
            reported = services.report_card(staff, access, card_id, form.data["why"])
        except services.CardProblem as exc:
            form.add_error(FORM_ERROR, str(exc))
        else:
            flash(
                f"Card ending {reported.card_number[-4:]} reported {reported.hotlist_reason}. "
                "It is refused at every reader from now on",
                "success",
            )
            return redirect(url_for("staff.record", resident_id=resident_id))
    elif not form.submitted:
        services.view_record(staff, access, "report card")
    return form_page(
        "staff/report_card.html", form, resident_id=resident_id, last4=card.card_number[-4:]
    )


@bp.route("/residents/<resident_id>/cards/issue", methods=["GET", "POST"])
@requires(Action.ISSUE_CARD)
@_with_access
def issue_card(resident_id: str, access: services.Access) -> ResponseReturnValue:
    """Issue a card, or replace the active one (reported first, as issuance needs)."""
    staff = _staff()
    view = services.view_record(staff, access, "issue card", with_cards=True)
    active = view.active_card
    form_class = ReplaceCardForm if active is not None else IssueCardForm
    form = form_class(request.form if request.method == "POST" else None)
    if form.validate():
        try:
            card, replaced = services.issue_card(
                staff,
                access,
                counter_reader(current_app),
                form.data["pin"],
                form.data.get("why"),
            )
        except services.CardProblem as exc:
            # The card on the record may have changed (reported, or issued at another
            # counter): ask again for what is now needed. PINs are never kept.
            active = services.resident_active_card(access)
            form = (ReplaceCardForm if active is not None else IssueCardForm)()
            form.add_error(FORM_ERROR, str(exc))
        else:
            replaced_text = (
                f" It replaces the card ending {replaced.card_number[-4:]}, which no longer works."
                if replaced
                else ""
            )
            flash(f"Kent Card ending {card.card_number[-4:]} is active.{replaced_text}", "success")
            return redirect(url_for("staff.record", resident_id=resident_id))
    return form_page(
        "staff/issue_card.html",
        form,
        resident_id=resident_id,
        resident=view.resident,
        active=active,
    )


@bp.route("/residents/<resident_id>/cards/<card_id>/unblock-pin", methods=["GET", "POST"])
@requires(Action.UNBLOCK_PIN)
@_with_access
def unblock_pin(resident_id: str, card_id: str, access: services.Access) -> ResponseReturnValue:
    """A resident whose PIN is blocked chooses a new one at the counter reader."""
    staff = _staff()
    card = services.card_on_record(access, card_id)
    form = UnblockPinForm(request.form if request.method == "POST" else None)
    if form.validate():
        try:
            services.unblock_pin(
                staff, access, card_id, counter_reader(current_app), form.data["pin"]
            )
        except services.CardProblem as exc:
            form = UnblockPinForm()  # PINs are never kept or shown again
            form.add_error(FORM_ERROR, str(exc))
        else:
            flash(
                f"The PIN on the card ending {card.card_number[-4:]} is unblocked. "
                "The resident can use their new PIN now",
                "success",
            )
            return redirect(url_for("staff.record", resident_id=resident_id))
    elif not form.submitted:
        services.view_record(staff, access, "unblock PIN")
    return form_page(
        "staff/unblock_pin.html", form, resident_id=resident_id, last4=card.card_number[-4:]
    )


@bp.route("/residents/new", methods=["GET", "POST"])
@requires(Action.REGISTER_RESIDENT)
def register_resident() -> ResponseReturnValue:
    """Register someone; when a record may be theirs already, show it and ask for a
    confirmation that this is a different person (everything typed is kept)."""
    staff = _staff()
    form = RegisterResidentForm(request.form if request.method == "POST" else None)
    matches = None
    if form.validate():
        confirmed = form.data["different_person"] and form.data["different_person_reason"]
        try:
            outcome = services.register_resident(
                staff,
                form.data["channel"],
                None,
                form.details(),
                not_a_duplicate=form.data["different_person_reason"] if confirmed else None,
            )
        except services.EmailInUse:
            form.add_error(
                "email", "A Kent account already uses this email address. Search for it instead"
            )
        else:
            if not isinstance(outcome, services.LikelyMatches):
                _remember(services.Access(outcome.id, form.data["channel"], REGISTERING))
                flash("The resident has been registered", "success")
                return redirect(url_for("staff.record", resident_id=outcome.id))
            matches = outcome
            if not form.data["different_person"]:
                form.add_error("different_person", DIFFERENT_PERSON_NEEDED)
            else:
                form.add_error("different_person_reason", DIFFERENT_PERSON.required_message)
    elif form.only_confirmation_refused():
        matches = services.likely_matches(staff, form.data["channel"], form.details())
    return form_page("staff/register.html", form, matches=matches)


DIFFERENT_PERSON_NEEDED = (
    "A record that may be the same person already exists. Check the records shown. If this "
    "is a different person, tick the box and say how you know"
)


@bp.route("/audit", methods=["GET", "POST"])
@requires(Action.READ_AUDIT)
def audit_records() -> ResponseReturnValue:
    form = AuditFilterForm(request.form if request.method == "POST" else None)
    resident_id = None
    if form.validate():
        resident_id = form.data["resident"]
    records = [] if form.errors else services.read_audit(_staff(), resident_id)
    return form_page(
        "staff/audit.html", form, records=records, resident_id=resident_id, role_title=role_title
    )
