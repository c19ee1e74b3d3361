"""Small declarative forms in the GOV.UK Design System style.

Each field keeps exactly what was typed (``form.values``) so a page that fails validation
shows it again, and each error is tied to its field for the error summary and the message
next to the field. Validation of values shared with the API lives in
:mod:`idservice.validation`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, ClassVar

from idservice import validation
from idservice.web.csrf import CSRF_FIELD, csrf_valid

CSRF_MESSAGE = "This page has expired. Check your answers and select the button again"


@dataclass(frozen=True)
class Field:
    """One question on a page.

    ``kind`` chooses the parser: text, email, password, postcode, phone, date, checkbox,
    checkboxes, radios, select (one of ``choices``, like radios). ``extra["item_hints"]``
    gives radios or checkboxes a hint under an option (value -> words).
    ``name_for_errors`` is the field's name inside error messages, in sentence case
    ("Date of birth must be in the past").
    """

    name: str
    label: str
    kind: str = "text"
    required: bool = True
    max_length: int | None = 200
    hint: str | None = None
    choices: Mapping[str, str] | None = None
    required_message: str | None = None
    autocomplete: str | None = None
    width: str | None = None
    check: Callable[[Any], Any] | None = None
    strip: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def error_name(self) -> str:
        return self.label[0] + self.label[1:]

    @classmethod
    def from_rule(
        cls, name: str, rule: validation.TextRule | validation.DateRule, **overrides: Any
    ) -> Field:
        """The field for a shared rule: its label, kind, limit, messages and check."""
        settings: dict[str, Any]
        if isinstance(rule, validation.DateRule):
            settings = {"label": rule.label, "kind": "date", "check": rule.check}
        else:
            settings = {
                "label": rule.label,
                "kind": rule.kind,
                "max_length": rule.max_length,
                "required_message": rule.required_message,
                "check": rule.check,
            }
        return cls(name=name, **{**settings, **overrides})


def current_password_field(label: str = "Password", name: str = "password") -> Field:
    """The field for a password someone already has (sign-in, confirming it is you, or a
    change that asks for it): kept exactly as typed and offered by password managers."""
    return Field(
        name,
        label,
        kind="password",
        max_length=256,
        required_message="Enter your password",
        strip=False,
        autocomplete="current-password",
    )


class Form:
    """Base form: subclasses list ``fields``."""

    fields: ClassVar[tuple[Field, ...]] = ()
    csrf: ClassVar[bool] = True

    def __init__(
        self, formdata: Any | None = None, initial: Mapping[str, Any] | None = None
    ) -> None:
        self.submitted = formdata is not None
        self.values: dict[str, Any] = {}
        self.errors: dict[str, str] = {}
        self.data: dict[str, Any] = {}
        self._formdata = formdata
        for f in self.fields:
            if formdata is not None:
                self.values[f.name] = self._raw(f, formdata)
            elif initial is not None and f.name in initial:
                self.values[f.name] = self._initial(f, initial[f.name])
            else:
                self.values[f.name] = [] if f.kind == "checkboxes" else ""

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    @staticmethod
    def _raw(f: Field, formdata: Any) -> Any:
        if f.kind == "checkboxes":
            return [v for v in formdata.getlist(f.name) if isinstance(v, str)]
        if f.kind == "date":
            return {part: formdata.get(f"{f.name}-{part}", "") for part in ("day", "month", "year")}
        if f.kind == "checkbox":
            return "yes" if formdata.get(f.name) else ""
        return formdata.get(f.name, "")

    @staticmethod
    def _initial(f: Field, value: Any) -> Any:
        if value is None:
            return [] if f.kind == "checkboxes" else ""
        if f.kind == "date" and isinstance(value, date):
            return {"day": str(value.day), "month": str(value.month), "year": str(value.year)}
        if f.kind == "checkbox":
            return "yes" if value else ""
        if f.kind == "checkboxes":
            return list(value)
        return str(value)

    def add_error(self, name: str, message: str) -> None:
        self.errors.setdefault(name, message)

    def validate(self) -> bool:
        if not self.submitted:
            return False
        if self.csrf and not csrf_valid(self._formdata.get(CSRF_FIELD) if self._formdata else None):
            self.add_error(CSRF_FIELD, CSRF_MESSAGE)
        for f in self.fields:
            try:
                self.data[f.name] = self._clean(f, self.values[f.name])
            except validation.ValidationError as exc:
                self.add_error(f.name, str(exc))
        if not self.errors:
            self.validate_form()
        return not self.errors

    def validate_form(self) -> None:
        """Hook for checks across fields; call :meth:`add_error`."""

    def _clean(self, f: Field, raw: Any) -> Any:
        value: Any
        if f.kind == "date":
            value = validation.parse_date_parts(raw, f.label, required=f.required)
        elif f.kind == "checkboxes":
            allowed = set(f.choices or {})
            if any(v not in allowed for v in raw):
                raise validation.ValidationError(f"Select from the options for {f.label.lower()}")
            if f.required and not raw:
                raise validation.ValidationError(f.required_message or f"Select {f.label.lower()}")
            value = list(dict.fromkeys(raw))
        elif f.kind == "checkbox":
            value = raw == "yes"
        elif f.kind in ("radios", "select"):
            text = raw.strip()
            if not text:
                if f.required:
                    raise validation.ValidationError(
                        f.required_message or f"Enter {f.label[0].lower() + f.label[1:]}"
                    )
                value = None
            elif text not in (f.choices or {}):
                raise validation.ValidationError(f"Select {f.label.lower()}")
            else:
                value = text
        else:
            value = validation.clean_text(
                raw,
                f.label,
                kind=f.kind,
                max_length=f.max_length,
                required=f.required,
                required_message=f.required_message,
                strip=f.strip,
            )
        if f.check is not None and value is not None:
            value = f.check(value)
        return value
