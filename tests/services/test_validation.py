"""The shared rules themselves: types, control characters, normal form, and the columns."""

from __future__ import annotations

import unicodedata
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Date, String

from idservice import validation
from idservice.models import Base

TEXT_RULES = {
    name: rule for name, rule in validation.RULES.items() if isinstance(rule, validation.TextRule)
}


def _column(path: str):  # type: ignore[no-untyped-def]
    table, column = path.split(".")
    return Base.metadata.tables[table].c[column]


@pytest.mark.parametrize("name", sorted(validation.RULES))
def test_every_rule_fits_the_column_it_is_stored_in(name: str) -> None:
    """A value the rules let through can never be too long for the database (a DataError)."""
    rule = validation.RULES[name]
    assert rule.column, f"{name} names no column"
    column = _column(rule.column)
    if isinstance(rule, validation.DateRule):
        assert isinstance(column.type, Date)
        return
    assert isinstance(column.type, String) and column.type.length is not None
    assert rule.stored_length <= column.type.length, (name, rule.stored_length, column.type.length)
    assert rule.stored_length <= rule.max_length


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(sorted(TEXT_RULES)), value=st.text(max_size=400))
def test_whatever_a_rule_returns_fits_its_stored_length(name: str, value: str) -> None:
    rule = TEXT_RULES[name]
    try:
        cleaned = rule.clean(value, required=False)
    except validation.ValidationError as exc:
        assert str(exc).startswith(("Enter", rule.label))
        return
    if cleaned is not None:
        assert len(cleaned) <= rule.stored_length
        assert not validation.has_control_characters(cleaned)
        assert cleaned == cleaned.strip()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "Enter your first name"),
        ("   ", "Enter your first name"),
        (["x"], "First name must be text"),
        ({"a": 1}, "First name must be text"),
        (42, "First name must be text"),
        (True, "First name must be text"),
        ("Ada\x00", "First name must not contain special characters"),
        ("Ada\x1b[31m", "First name must not contain special characters"),
        ("Ada\nLovelace", "First name must not contain special characters"),
        ("\u202eecalevoL", "First name must not contain special characters"),
        ("Ad\u200ba", "First name must not contain special characters"),
        ("Ada\u2028Lovelace", "First name must not contain special characters"),
        ("x" * 101, "First name must be 100 characters or fewer"),
    ],
)
def test_a_name_that_is_not_a_name_is_refused_with_the_forms_message(
    value: object, message: str
) -> None:
    with pytest.raises(validation.ValidationError) as refused:
        validation.GIVEN_NAME.clean(value)
    assert str(refused.value) == message


def test_text_is_trimmed_and_put_in_normal_form_c() -> None:
    decomposed = unicodedata.normalize("NFD", "  Zoë Brontë ")
    assert validation.GIVEN_NAME.clean(decomposed) == "Zoë Brontë"
    assert validation.ADDRESS_LINE_2.clean("  ", required=False) is None
    assert validation.ADDRESS_LINE_2.clean(None, required=False) is None


@pytest.mark.parametrize(
    ("rule", "value", "message"),
    [
        (validation.POSTCODE, "NOT A POSTCODE", "Postcode must be 10 characters or fewer"),
        (validation.POSTCODE, "NOT A PC", "Enter a real UK postcode, like ME14 1XQ"),
        (validation.POSTCODE, "ME\u0661\u0664 \u0661XQ", "Enter a real UK postcode, like ME14 1XQ"),
        (validation.POSTCODE, "ME14\x001XQ", "Postcode must not contain special characters"),
        (validation.POSTCODE, ["ME14 1XQ"], "Postcode must be text"),
        (validation.EMAIL, "not an email", "Enter an email address in the correct format, like "
         "name@example.com"),
        (validation.PHONE, "call me", validation.PHONE_MESSAGE),
        (validation.ADDRESS_LINE_1, "", "Enter address line 1, typically the building and street"),
        (validation.ADDRESS_LINE_1, "x" * 3000, "Address line 1 must be 200 characters or fewer"),
        (validation.TOWN, "Maid\tstone", "Town or city must not contain special characters"),
        (validation.RESIDENT_REFERENCE, "nobody", "Enter a resident reference in the correct "
         "format, like 2f1c1a5e-3d4b-4c8e-9f7a-0b1c2d3e4f5a"),
    ],
)  # fmt: skip
def test_each_kind_of_value_has_its_message(
    rule: validation.TextRule, value: object, message: str
) -> None:
    with pytest.raises(validation.ValidationError) as refused:
        rule.clean(value)
    assert str(refused.value) == message


def test_postcodes_phones_and_emails_are_stored_in_one_form() -> None:
    assert validation.POSTCODE.clean(" me141xq ") == "ME14 1XQ"
    assert validation.PHONE.clean("+44 7700 900 982") == "07700900982"
    assert validation.EMAIL.clean(" Ada@Example.COM ") == "ada@example.com"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "Enter your date of birth"),
        ("", "Enter your date of birth"),
        ("None", "Date of birth must be a real date"),
        (19561210, "Date of birth must be a real date"),
        (["1956-12-10"], "Date of birth must be a real date"),
        ("1956-02-30", "Date of birth must be a real date"),
        ("19561210", "Date of birth must be a real date"),
        ("1956-12-10T00:00", "Date of birth must be a real date"),
        ("1899-12-31", "Date of birth must be after 1900"),
        ("2999-01-01", "Date of birth must be in the past"),
    ],
)
def test_dates_written_yyyy_mm_dd_have_the_date_boxes_messages(value: object, message: str) -> None:
    with pytest.raises(validation.ValidationError) as refused:
        validation.DATE_OF_BIRTH.from_iso(value)
    assert str(refused.value) == message
    assert validation.DATE_OF_BIRTH.from_iso(" 1956-12-10 ") == date(1956, 12, 10)


def test_passwords_are_kept_exactly_as_typed() -> None:
    typed = " \u202e any characters at all \t"
    assert validation.clean_text(typed, "Password", kind="password", strip=False) == typed
