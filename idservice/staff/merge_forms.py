"""Forms for merging two records of one person and for undoing a merge."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from idservice import validation
from idservice.web.forms import Field, Form

OTHER = "with"


def _check_reason(value: str) -> str:
    if len(value) < 5:
        raise validation.ValidationError("Reason must be 5 characters or more")
    return value


def _must_confirm(message: str) -> Callable[[bool], bool]:
    def check(ticked: bool) -> bool:
        if not ticked:
            raise validation.ValidationError(message)
        return ticked

    return check


class FindOtherForm(Form):
    """Which record to merge into the one open: its reference (a GET form, no CSRF)."""

    csrf: ClassVar[bool] = False
    fields: ClassVar[tuple[Field, ...]] = (
        Field.from_rule(
            OTHER,
            validation.RESIDENT_REFERENCE,
            label="Reference of the record to merge into this one",
            hint="At the bottom of the other record's page, like "
            "2f1c1a5e-3d4b-4c8e-9f7a-0b1c2d3e4f5a. You see both records before anything "
            "changes",
            required_message="Enter the reference of the other record",
            width="30",
        ),
    )


REASON_HINT = "The resident sees this on their account activity page"


class MergeForm(Form):
    fields: ClassVar[tuple[Field, ...]] = (
        Field(
            "reason",
            "Why are you merging these records?",
            max_length=500,
            hint="For example: registered online and again at the Gateway. " + REASON_HINT,
            required_message="Enter why you are merging these records",
            check=_check_reason,
        ),
        Field(
            "confirm",
            "I have checked that both records are the same person",
            kind="checkbox",
            check=_must_confirm("Confirm you have checked that both records are the same person"),
        ),
    )


class UnmergeForm(Form):
    fields: ClassVar[tuple[Field, ...]] = (
        Field(
            "reason",
            "Why are you undoing this merge?",
            max_length=500,
            hint="For example: these are a mother and daughter with the same name. " + REASON_HINT,
            required_message="Enter why you are undoing this merge",
            check=_check_reason,
        ),
        Field(
            "confirm",
            "I have checked that these are two different people",
            kind="checkbox",
            check=_must_confirm("Confirm you have checked that these are two different people"),
        ),
    )
