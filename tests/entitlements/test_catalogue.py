from __future__ import annotations

from datetime import date

import pytest

from entitlements.catalogue import Catalogue, CatalogueError, Lasts, parse_catalogue
from entitlements.facts import FactName, VerificationLevel


def test_every_service_the_issue_lists_is_in_the_catalogue(catalogue: Catalogue) -> None:
    assert {
        "library",
        "bus-pass-older",
        "bus-pass-disabled",
        "bus-pass-companion",
        "kent-travel-saver",
        "16-plus-travel-saver",
        "blue-badge",
        "proof-of-age-18",
    } <= set(catalogue.codes)
    assert any(service.partner for service in catalogue)


def test_every_service_says_its_rule_in_words(catalogue: Catalogue) -> None:
    for service in catalogue:
        assert len(service.rule.split()) >= 5, service.code
        assert service.conditions


def test_blue_badge_is_not_carried_on_the_card(catalogue: Catalogue) -> None:
    assert not catalogue.get("blue-badge").on_card
    assert catalogue.get("bus-pass-older").evidence is VerificationLevel.CHECKED


def test_lasts() -> None:
    assert Lasts.parse("5 years").end(date(2026, 11, 23)) == date(2031, 11, 22)
    assert Lasts.parse("academic year").end(date(2027, 3, 1)) == date(2027, 8, 31)
    assert Lasts.parse("academic year").end(date(2027, 9, 1)) == date(2028, 8, 31)
    assert Lasts.parse("until cancelled").end(date(2027, 3, 1)) is None


GOOD = """
[[service]]
code = "test"
name = "Test"
rule = "You live in Kent."
evidence = "checked"
lasts = "1 year"
on_card = true
  [[service.condition]]
  test = "lives-in-kent"
"""


def test_a_minimal_valid_catalogue() -> None:
    assert parse_catalogue(GOOD).codes == ["test"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('test = "lives-in-kent"', 'test = "lives-in-kentt"'), "unknown test"),
        (('test = "lives-in-kent"', 'test = "age-at-least"'), "parameters must be"),
        (('test = "lives-in-kent"', 'test = "age-at-least"\n  years = "18"'), "must be int"),
        (('lasts = "1 year"', 'lasts = "forever"'), "lasts must be"),
        (('evidence = "checked"', 'evidence = "seen"'), "unknown evidence level"),
        (('code = "test"', 'code = "Test Code"'), "code must be"),
        (("on_card = true", 'on_card = "yes"'), "on_card"),
        (("on_card = true", "on_card = true\ncolour = 1"), "unknown keys"),
        (('rule = "You live in Kent."', ""), "rule is required"),
        (("[[service]]", "[[services]]"), "must contain only"),
        (("[[service]]", "[[service"), "not valid TOML"),
    ],
)
def test_invalid_catalogues_are_refused_at_load(change: tuple[str, str], message: str) -> None:
    with pytest.raises(CatalogueError, match=message):
        parse_catalogue(GOOD.replace(*change))


def test_duplicate_codes_are_refused() -> None:
    with pytest.raises(CatalogueError, match="duplicate"):
        parse_catalogue(GOOD + GOOD)


def test_disability_evidence_must_cover_all_seven_categories() -> None:
    text = GOOD.replace(
        'test = "lives-in-kent"',
        'test = "statutory-disability"\n  [service.condition.evidence]\n  a = "CVI"',
    )
    with pytest.raises(CatalogueError, match="a to g"):
        parse_catalogue(text)


def test_durations_and_renewal_are_catalogue_data(catalogue: Catalogue) -> None:
    older = catalogue.get("bus-pass-older")
    assert older.lasts == Lasts(years=5)
    assert older.renewal is not None and older.renewal.how == "apply-again"
    assert FactName.ADDRESS in older.renewal.recheck  # renewal checks residency again
    for code in ("kent-travel-saver", "16-plus-travel-saver"):
        assert catalogue.get(code).lasts.end(date(2027, 1, 10)) == date(2027, 8, 31)
    assert catalogue.get("blue-badge").lasts == Lasts(years=3)
    library = catalogue.get("library")
    assert library.lasts.end(date(2027, 1, 10)) is None
    assert library.renewal is not None and library.renewal.confirms_details
    assert library.details_due(date(2027, 1, 10)) == date(2030, 1, 9)
    assert catalogue.get("proof-of-age-18").lasts == Lasts(card=True)
    assert str(catalogue.get("proof-of-age-18").lasts) == "until the card expires"
    assert older.renewal.window_opens(date(2031, 6, 30), 42) == date(2031, 5, 19)
    assert catalogue.get("blue-badge").renewal.window_opens(date(2031, 6, 30), 42) == date(
        2031, 4, 7
    )


RENEWING = (
    GOOD
    + """
  [service.renewal]
  how = "apply-again"
  recheck = ["address"]
"""
)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('how = "apply-again"', 'how = "automatic"'), "renewal how must be"),
        (('recheck = ["address"]', 'recheck = ["postcode"]'), "recheck lists fact names"),
        (('recheck = ["address"]', "invite_days_before = 0"), "invite_days_before"),
        (('recheck = ["address"]', 'every = "3 years"'), "every is only"),
        (('how = "apply-again"', 'how = "confirm-details"'), 'every = "N years"'),
        (('lasts = "1 year"', 'lasts = "until cancelled"'), "needs a service that ends"),
        (('recheck = ["address"]', 'colour = "red"'), "renewal takes only"),
    ],
)
def test_invalid_renewals_are_refused_at_load(change: tuple[str, str], message: str) -> None:
    assert parse_catalogue(RENEWING).get("test").renewal is not None
    with pytest.raises(CatalogueError, match=message):
        parse_catalogue(RENEWING.replace(*change))


def test_a_confirm_details_renewal_is_for_services_without_an_end() -> None:
    text = GOOD.replace('lasts = "1 year"', 'lasts = "until cancelled"') + (
        '\n  [service.renewal]\n  how = "confirm-details"\n  every = "3 years"\n'
    )
    assert parse_catalogue(text).get("test").details_due(date(2027, 3, 1)) == date(2030, 2, 28)
    with pytest.raises(CatalogueError, match="until cancelled"):
        parse_catalogue(text.replace('lasts = "until cancelled"', 'lasts = "2 years"'))
