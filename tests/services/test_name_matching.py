"""Comparing two people of the same date of birth (no database): tables of names and
addresses, what matches, why and with what score.

Decisions written down here (docs/one-record-per-person.md says the same):
- the same first line of the address in the same town counts as the same address even
  with another postcode (a mistyped or re-issued postcode); the same line in another town
  with another postcode does not ("1 High Street" is everywhere);
- the same first name with a different last name is a possible change of name only at the
  same address, not merely the same postcode;
- twins with similar first names (Daniel and Danielle) are flagged: staff say "not the
  same person" in a minute, while a missed match leaves one person with two records.
"""

from __future__ import annotations

import pytest

from idservice.services.name_matching import (
    CLOSE_NAME,
    FAMILY_NAME_CHANGED,
    GIVEN_NAME_SAME,
    INITIALS,
    NAME_PART_CLOSE,
    PART_OF_NAME,
    SAME_ADDRESS,
    SAME_NAME,
    SAME_POSTCODE,
    SAME_POSTCODE_AND_ADDRESS,
    SWAPPED_NAMES,
    Match,
    Person,
    compare,
    name_tokens,
    normalise_address_line,
)

ADA = Person("Ada", "Lovelace", "Sessions House", "Maidstone", "ME14 1XQ")


def at_ada(given: str, family: str) -> Person:
    """Someone with this name at Ada's address and postcode."""
    return Person(given, family, ADA.address_line_1, ADA.town, ADA.postcode)


def near_ada(given: str, family: str) -> Person:
    """Someone with this name at another address in Ada's postcode."""
    return Person(given, family, "2 County Road", "Maidstone", "ME14 1XQ")


@pytest.mark.parametrize(
    ("given", "family", "reason", "lowest"),
    [
        ("Ada", "Lovelace", SAME_NAME, 1.0),
        ("ADA", "lovelace", SAME_NAME, 1.0),
        ("  Ada ", "Love-lace", SAME_NAME, 1.0),  # hyphen as a space, then joined
        ("Adá", "Lovelace", SAME_NAME, 1.0),  # accents
        ("Mrs Ada", "Lovelace", SAME_NAME, 1.0),  # a title typed in the first-name box
        ("Ada", "Lovelance", CLOSE_NAME, 0.97),  # an extra letter
        ("Ada", "Lovelcae", CLOSE_NAME, 0.97),  # two letters swapped
        ("Ada", "Lovelac", CLOSE_NAME, 0.97),  # a letter missing
        ("Adda", "Lovelace", CLOSE_NAME, 0.95),
        ("Lovelace", "Ada", SWAPPED_NAMES, 1.0),  # first and last names the other way round
        ("Lovelance", "Ada", SWAPPED_NAMES, 0.97),
        ("A", "Lovelace", INITIALS, 0.95),
        ("A.", "Lovelace", INITIALS, 0.95),
        ("Ada", "Lovelace-King", PART_OF_NAME, 0.95),  # a double-barrelled name
        ("Ada", "King Lovelace", PART_OF_NAME, 0.95),
        ("Augusta Ada", "Lovelace", PART_OF_NAME, 0.95),  # a first name not used every day
    ],
)
def test_close_names_at_the_same_postcode_match(
    given: str, family: str, reason: str, lowest: float
) -> None:
    match = compare(near_ada(given, family), ADA)
    assert match is not None, (given, family)
    assert (match.reason, match.place) == (reason, SAME_POSTCODE)
    assert lowest <= match.score <= 1.0


@pytest.mark.parametrize(
    ("given", "family"),
    [
        ("Eve", "Lovelace"),  # a sister born the same day
        ("Ava", "Lovelace"),  # JW 0.80: a different name, not a typo
        ("John", "Lovelace"),
        ("Ada", "Byron"),  # a different last name at another address in the postcode
        ("Byron", "Ada"),
        ("B", "Lovelace"),  # initials that do not fit
        ("Lovelace", "Lovelace"),
    ],
)
def test_different_names_do_not_match(given: str, family: str) -> None:
    assert compare(near_ada(given, family), ADA) is None


def test_twins_with_similar_names_are_asked_about() -> None:
    daniel = Person("Daniel", "Okafor", "4 Mill Lane", "Dover", "CT16 1AA")
    danielle = Person("Danielle", "Okafor", "4 Mill Lane", "Dover", "CT16 1AA")
    match = compare(danielle, daniel)
    assert match is not None and match.reason == CLOSE_NAME


def test_a_change_of_last_name_matches_only_at_the_same_address() -> None:
    married = at_ada("Ada", "King")
    match = compare(married, ADA)
    assert match == Match(0.9, FAMILY_NAME_CHANGED, SAME_POSTCODE_AND_ADDRESS)
    # With a typo in the first name too.
    typo = compare(at_ada("Adda", "King"), ADA)
    assert typo is not None and typo.reason == FAMILY_NAME_CHANGED and typo.score < 0.9
    # The same postcode but another house: not enough on the first name alone.
    assert compare(near_ada("Ada", "King"), ADA) is None
    # A different first name at the same address is somebody else.
    assert compare(at_ada("Eve", "King"), ADA) is None
    # Initials alone are not enough either.
    assert compare(at_ada("A", "King"), ADA) is None


@pytest.mark.parametrize(
    ("address_line_1", "town", "postcode", "place"),
    [
        ("Sessions House", "Maidstone", "ME14 1XQ", SAME_POSTCODE_AND_ADDRESS),
        ("sessions house", "MAIDSTONE", "me141xq", SAME_POSTCODE_AND_ADDRESS),
        ("2 County Road", "Maidstone", "ME14 1XQ", SAME_POSTCODE),
        # The same address with a mistyped or changed postcode.
        ("Sessions House", "Maidstone", "ME14 1XX", SAME_ADDRESS),
        ("Sessions Hse.", "Maidstone", "ME15 6AA", SAME_ADDRESS),
    ],
)
def test_where_they_live(address_line_1: str, town: str, postcode: str, place: str) -> None:
    match = compare(Person("Ada", "Lovelace", address_line_1, town, postcode), ADA)
    assert match is not None and match.place == place


def test_the_same_street_in_another_town_is_not_the_same_address() -> None:
    assert compare(Person("Ada", "Lovelace", "Sessions House", "Dover", "CT16 1AA"), ADA) is None


def test_street_words_are_compared_in_full() -> None:
    assert normalise_address_line("12 St. Mary's Rd") == normalise_address_line(
        "12 Street Marys Road"
    )
    assert normalise_address_line("Flat 3, 1 High St") == "flat 3 1 high street"


def test_names_are_normalised() -> None:
    assert name_tokens("  Dr  Siobhán  O'Brien-Smith ") == ("siobhan", "obrien", "smith")
    assert name_tokens("Zoë") == ("zoe",)
    assert name_tokens("Mr") == ("mr",)  # a title alone is kept: it is all there is
    assert name_tokens("Strauß") == ("strauss",)


def test_the_reason_in_words() -> None:
    typo = Person("Ada", "Lovelance", "2 County Road", "Maidstone", "ME14 1XQ")
    match = compare(typo, ADA)
    assert match is not None
    assert match.words(typo, ADA) == (
        "same date of birth, same postcode, name 'Ada Lovelance' close to 'Ada Lovelace' (0.99)"
    )
    # The stored summary carries no name or address.
    summary = match.summary()
    assert summary == "same date of birth, same postcode, a close name (0.99)"
    for value in ("Ada", "Lovelace", "ME14", "County"):
        assert value not in summary


def test_the_thresholds_are_ordered() -> None:
    """A change of last name rests on the first name alone, so it asks more of it."""
    assert 0.8 < NAME_PART_CLOSE < GIVEN_NAME_SAME < 1.0
