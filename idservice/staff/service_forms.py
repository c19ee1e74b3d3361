"""Staff forms for service requests. (The forms for facts are in ``fact_forms.py``.)"""

from __future__ import annotations

from idservice.web.forms import Field, Form

DECISIONS = {"approve": "Approve: grant the service now", "refuse": "Refuse"}


class DecideRequestForm(Form):
    fields = (
        Field(
            "decision",
            "What is your decision?",
            kind="radios",
            choices=DECISIONS,
            required_message="Select approve or refuse",
        ),
        Field(
            "why",
            "If you refuse it, why?",
            required=False,
            max_length=300,
            hint="Needed when you refuse. The resident is shown this: say what they can do next",
        ),
    )

    def validate_form(self) -> None:
        if self.data["decision"] == "refuse" and not self.data["why"]:
            self.add_error("why", "Enter why the request is refused")
