"""Forms for life events told to staff (Tell Us Once) and the partner events filter."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from idservice import validation
from idservice.web.forms import Field, Form
from idservice.web.registration import address_fields, name_fields


def _for_someone_else(f: Field) -> Field:
    return dataclasses.replace(f, autocomplete=None)


def _must_confirm(ticked: bool) -> bool:
    if not ticked:
        raise validation.ValidationError("Confirm you have checked who has died")
    return ticked


def _date(name: str, rule: validation.DateRule, hint: str) -> Field:
    return Field.from_rule(name, rule, hint=hint)


EXAMPLE = "For example, 27 3 2026"


class DeathForm(Form):
    fields: ClassVar[tuple[Field, ...]] = (
        _date("occurred_on", validation.DATE_OF_DEATH, EXAMPLE),
        Field.from_rule(
            "reference",
            validation.LIFE_EVENT_REFERENCE,
            required=False,
            required_message=None,
            hint="From the death certificate or the registrar, if you have it",
        ),
        Field(
            "confirm",
            "I have checked the name, date of birth and address with the person telling us",
            kind="checkbox",
            check=_must_confirm,
        ),
    )


class MoveOutForm(Form):
    fields: ClassVar[tuple[Field, ...]] = (
        _date("occurred_on", validation.MOVE_OUT_DATE, "It can be up to a year ahead. " + EXAMPLE),
    )


class NameChangeForm(Form):
    fields: ClassVar[tuple[Field, ...]] = (
        *(_for_someone_else(f) for f in name_fields()),
        _date("occurred_on", validation.NAME_CHANGE_DATE, EXAMPLE),
    )


class AddressChangeForm(Form):
    fields: ClassVar[tuple[Field, ...]] = (
        *(_for_someone_else(f) for f in address_fields()),
        _date("occurred_on", validation.ADDRESS_CHANGE_DATE, EXAMPLE),
    )
