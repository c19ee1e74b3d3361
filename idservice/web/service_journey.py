"""The add-a-service journey's pages, shared by the resident's account and the staff
console: start, one question per page, check your answers, outcome.

A :class:`Journey` is given the applicant, how to build its URLs and the layout to extend,
so the resident and a member of staff helping them see the same questions and get the
same answer. Answers wait in the session until "Check your answers" is confirmed; then
:func:`add_service.apply` stores them as facts with the outcome in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from flask import abort, flash, redirect, render_template, request, session
from flask.typing import ResponseReturnValue

from entitlements.catalogue import Service
from entitlements.dates import academic_year_start, long_date
from entitlements.facts import (
    Disability,
    DisabilityCategory,
    FactName,
    FactValue,
    QualifyingAward,
    SchoolYear,
)
from entitlements.journey import EVIDENCE_ACCEPTED, Route, expected_decision, questions
from idservice.services import add_service, facts, service_offers
from idservice.web.fact_answers import (
    YES_NO,
    award_choices,
    disability_choices,
    year_group_choices,
)
from idservice.web.forms import Field, Form
from idservice.web.pages import FORM_ERROR, form_page

ANSWERS_KEY = "service_answers"
NONE = "none"


def disability_evidence(service: Service) -> Mapping[str, str]:
    """The evidence a service's catalogue entry accepts for each disability, a to g."""
    return next((c.params["evidence"] for c in service.conditions if "evidence" in c.params), {})


@dataclass(frozen=True)
class Question:
    """One question page: the question, a hint, the choices and what an answer means."""

    title: str
    required: str
    hint: str | None = None
    #: The words shown for "none of these" and, when answering it means the resident
    #: cannot have the service, why (shown at once, nothing stored).
    none_label: str | None = None
    none_ends: str | None = None

    def choices(self, name: FactName, service: Service) -> dict[str, str]:
        if name is FactName.SCHOOL_YEAR:
            options = year_group_choices()
        elif name is FactName.DISABILITY:
            options = disability_choices(disability_evidence(service))
        elif name is FactName.QUALIFYING_AWARD:
            options = award_choices()
        else:
            options = dict(YES_NO)
        if self.none_label:
            options[NONE] = self.none_label
        return options


QUESTIONS: Mapping[FactName, Question] = {
    FactName.WORKS_IN_KENT: Question(
        "Do you work in Kent?",
        "Select yes if you work in Kent",
        hint="In one of Kent County Council's 12 districts. Medway is a separate council",
    ),
    FactName.STUDIES_IN_KENT: Question(
        "Do you study in Kent?",
        "Select yes if you study in Kent",
        hint="At a school, college or university in Kent",
    ),
    FactName.PARENTAL_CONSENT: Question(
        "Has a parent or guardian agreed to this?",
        "Select yes if a parent or guardian has agreed",
        hint="Children under 16 need a parent or guardian's consent. They can answer this for you",
    ),
    FactName.SCHOOL_YEAR: Question(
        "Which school year are you in?",
        "Select your school year",
        hint="The year group you are in now",
    ),
    FactName.FULL_TIME_EDUCATION: Question(
        "Are you in full-time education or training?",
        "Select yes if you are in full-time education or training",
        hint="For example at school, sixth form, college, or on an apprenticeship",
    ),
    FactName.DISABILITY: Question(
        "Which of these applies to you?",
        "Select the disability that applies to you, or none of these",
        hint="These are the 7 disabilities in the law. You will need to show the evidence "
        "listed, or we will arrange an assessment",
        none_label="None of these",
        none_ends="The disabled person's bus pass is only for people with one of the 7 "
        "disabilities the law lists.",
    ),
    FactName.NEEDS_COMPANION: Question(
        "Do you need someone with you when you travel?",
        "Select yes if you need someone with you when you travel",
        hint="The council will assess this before a companion pass is granted",
    ),
    FactName.QUALIFYING_AWARD: Question(
        "Do you get any of these?",
        "Select what you get, or none of these",
        hint="If you get one of these you do not need an assessment",
        none_label="None of these",
    ),
}


def to_value(name: FactName, choice: str, on: date) -> FactValue | None:
    """What an answer means as a fact (None for "none of these")."""
    if choice == NONE:
        return None
    if name is FactName.SCHOOL_YEAR:
        return SchoolYear(int(choice), academic_year_start(on))
    if name is FactName.DISABILITY:
        return Disability(DisabilityCategory(choice), "not seen yet")
    if name is FactName.QUALIFYING_AWARD:
        return QualifyingAward(choice)
    return choice == "yes"


def question_form(name: FactName, service: Service, formdata: Any = None) -> Form:
    question = QUESTIONS[name]
    field = Field(
        "answer",
        question.title,
        kind="radios",
        choices=question.choices(name, service),
        hint=question.hint,
        required_message=question.required,
    )
    form_class: type[Form] = type("QuestionForm", (Form,), {"fields": (field,)})
    return form_class(formdata)


class ConfirmForm(Form):
    """The "check your answers" button: only the CSRF token is checked."""


class WithdrawForm(Form):
    """The "withdraw this request" button."""


class NotInterestedForm(Form):
    """The "not interested" button on an offer."""


@dataclass(frozen=True)
class Journey:
    applicant: add_service.Applicant
    #: ``url("start", code=...)`` builds this journey's URL for a step.
    url: Callable[..., str]
    layout: str
    caption: str

    # --- answers waiting in the session ------------------------------------------------

    def _key(self, code: str) -> str:
        return f"{self.applicant.resident_id}/{code}"

    def choices_given(self, code: str) -> dict[str, str]:
        stored = session.get(ANSWERS_KEY) or {}
        given = stored.get(self._key(code)) if isinstance(stored, dict) else None
        return dict(given) if isinstance(given, dict) else {}

    def answers(self, code: str, on: date) -> dict[FactName, FactValue | None]:
        result: dict[FactName, FactValue | None] = {}
        for name, choice in self.choices_given(code).items():
            try:
                fact = FactName(name)
                result[fact] = to_value(fact, str(choice), on)
            except (ValueError, KeyError):
                continue  # an answer from an older version of the page: ask again
        return result

    def _save(self, code: str, name: FactName, choice: str) -> None:
        stored = dict(session.get(ANSWERS_KEY) or {})
        given = self.choices_given(code)
        given[name.value] = choice
        stored[self._key(code)] = given
        # Only the few journeys in progress are kept.
        session[ANSWERS_KEY] = dict(list(stored.items())[-5:])

    def forget(self, code: str) -> None:
        stored = dict(session.get(ANSWERS_KEY) or {})
        stored.pop(self._key(code), None)
        session[ANSWERS_KEY] = stored

    # --- pages -------------------------------------------------------------------------

    def _render(self, template: str, **context: Any) -> ResponseReturnValue:
        return render_template(template, **self._context(**context))

    def _context(self, **context: Any) -> dict[str, Any]:
        return {
            "layout": self.layout,
            "url": self.url,
            "caption": self.caption,
            "staff_assisted": self.applicant.staff_id is not None,
            "long_date": long_date,
            "fact_labels": facts.FACT_LABELS,
            "evidence_accepted": EVIDENCE_ACCEPTED,
            **context,
        }

    def overview(self) -> ResponseReturnValue:
        overview = add_service.overview(self.applicant.resident_id)
        return self._render("services/list.html", overview=overview)

    def not_interested(self, offer_id: int, on: date) -> ResponseReturnValue:
        """Confirm "not interested" (the list's button posts here straight away)."""
        offer = service_offers.open_offer(self.applicant.resident_id, offer_id)
        form = NotInterestedForm(request.form if request.method == "POST" else None)
        if form.validate():
            again = service_offers.not_interested(self.applicant, offer_id, on)
            who = "the resident" if self.applicant.staff_id else "you"
            flash(
                f"We will not offer {who} {offer.service.name} again before {long_date(again)}",
                "success",
            )
            # Staff said it from the record they have open: back to it.
            return redirect(self.url("back" if self.applicant.staff_id else "list"))
        return form_page("services/not_interested.html", form, **self._context(offer=offer))

    def start(self, code: str, on: date) -> ResponseReturnValue:
        plan = add_service.plan(self.applicant, code, self.answers(code, on), on)
        return self._render("services/start.html", plan=plan)

    def question(self, code: str, fact: str, on: date) -> ResponseReturnValue:
        try:
            name = FactName(fact)
        except ValueError:
            abort(404)
        answers = self.answers(code, on)
        plan = add_service.plan(self.applicant, code, answers, on)
        if name not in QUESTIONS or (
            name not in questions(plan.decision) and name.value not in self.choices_given(code)
        ):
            abort(404)
        if plan.held is not None or plan.waiting is not None:
            return redirect(self.url("start", code=code))
        form = question_form(name, plan.service, request.form if request.method == "POST" else None)
        if request.method == "GET" and name.value in self.choices_given(code):
            form.values["answer"] = self.choices_given(code)[name.value]
        if form.validate():
            choice = form.data["answer"]
            ends = QUESTIONS[name].none_ends
            if choice == NONE and ends:
                self.forget(code)
                return self._render("services/cannot_have.html", service=plan.service, why=ends)
            self._save(code, name, choice)
            return redirect(self.next_step(code, on))
        return form_page(
            "services/question.html", form, **self._context(service=plan.service, name=name)
        )

    def next_step(self, code: str, on: date) -> str:
        plan = add_service.plan(self.applicant, code, self.answers(code, on), on)
        if plan.route is Route.ASK and plan.question is not None:
            return self.url("question", code=code, fact=plan.question.value)
        return self.url("check", code=code)

    def check(self, code: str, on: date) -> ResponseReturnValue:
        answers = self.answers(code, on)
        plan = add_service.plan(self.applicant, code, answers, on)
        if plan.held is not None or plan.waiting is not None:
            return redirect(self.url("outcome", code=code))
        if plan.route is Route.ASK:
            return redirect(self.next_step(code, on))
        form = ConfirmForm(request.form if request.method == "POST" else None)
        if form.validate():
            try:
                result = add_service.apply(self.applicant, code, answers, on)
            except add_service.ApplicationProblem as exc:
                form.add_error(FORM_ERROR, str(exc))
            else:
                self.forget(code)
                if result.route is Route.ASK:
                    return redirect(self.next_step(code, on))
                return redirect(self.url("outcome", code=code))
        given = [
            (name, QUESTIONS[name].choices(name, plan.service).get(choice, choice))
            for name, choice in ((FactName(k), v) for k, v in self.choices_given(code).items())
            if name in QUESTIONS
        ]
        return form_page(
            "services/check.html",
            form,
            **self._context(plan=plan, given=given, expected=expected_decision(plan.service, on)),
        )

    def outcome(
        self, code: str, on: date, request_url: Callable[[str], str] | None
    ) -> ResponseReturnValue:
        plan = add_service.plan(self.applicant, code, {}, on)
        if plan.held is None and plan.waiting is None and plan.route is not Route.NOT_ELIGIBLE:
            return redirect(self.url("start", code=code))
        return self._render(
            "services/outcome.html",
            plan=plan,
            today=on,
            request_link=request_url(plan.waiting.id) if plan.waiting and request_url else None,
        )
