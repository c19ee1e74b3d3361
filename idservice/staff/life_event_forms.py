"""Forms for life events told to staff (Tell Us Once) and the partner events filter."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta
from typing import ClassVar

from idservice import validation
from idservice.web.forms import Field, Form
from idservice.web.registration import address_fields, name_fields


def _for_someone_else(f: Field) -> Field:
    return dataclasses.replace(f, autocomplete=None)


def _not_in_future(value: date) -> date:
    if value > date.today():
        raise validation.ValidationError("The date must be today or in the past")
    return value


def _within_a_year(value: date) -> date:
    if value > date.today() + timedelta(days=366):
        raise validation.ValidationError("The move date must be within the next year")
    if value < date.today() - timedelta(days=366 * 6):
        raise validation.ValidationError("The move date must be within the last 6 years")
    return value


def _must_confirm(ticked: bool) -> bool:
    if not ticked:
        raise validation.ValidationError("Confirm you have checked who has died")
    return ticked


def _date(name: str, label: str, hint: str, check: object) -> Field:
    return Field(name, label, kind="date", hint=hint, check=check)  # type: ignore[arg-type]


EXAMPLE = "For example, 27 3 2026"


class DeathForm(Form):
    fields: ClassVar[tuple[Field, ...]] = (
        _date("occurred_on", "Date of death", EXAMPLE, _not_in_future),
        Field(
            "reference",
            "Death registration reference (optional)",
            required=False,
            max_length=64,
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
        _date(
            "occurred_on",
            "Date they move or moved out of Kent",
            "It can be up to a year ahead. " + EXAMPLE,
            _within_a_year,
        ),
    )


class NameChangeForm(Form):
    fields: ClassVar[tuple[Field, ...]] = (
        *(_for_someone_else(f) for f in name_fields()),
        _date("occurred_on", "Date the name changed", EXAMPLE, _not_in_future),
    )


class AddressChangeForm(Form):
    fields: ClassVar[tuple[Field, ...]] = (
        *(_for_someone_else(f) for f in address_fields()),
        _date("occurred_on", "Date they moved", EXAMPLE, _not_in_future),
    )
