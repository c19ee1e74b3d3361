"""Is this the same person? Comparing two people's names and addresses, with no database.

Used by :mod:`idservice.services.duplicates`, which finds the records to compare (same
date of birth, active) and keeps what it finds. Kept apart so it can be tested from tables
of names and read by someone checking why two records were put side by side.

How two names are compared:

1. Both are normalised: accents removed (``Zoë`` → ``zoe``), case folded, apostrophes
   dropped (``O'Brien`` → ``obrien``), hyphens and other punctuation turned into spaces
   (``Smith-Jones`` → ``smith jones``), spaces collapsed, and a leading title (Mr, Mrs,
   Dr ...) left out.
2. First names and last names are compared separately with the Jaro-Winkler similarity
   (``rapidfuzz``), which forgives a typo, a missing or doubled letter or two swapped
   letters and weighs the start of a name most, where people rarely make mistakes.
   Initials (``A`` for ``Ada``) and one part of a longer name (``Smith`` of
   ``Smith-Jones``, ``Ada`` of ``Augusta Ada``) count as close too.
3. A name typed the other way round (last name in the first-name box) is compared
   swapped as well.
4. At the same address, the same first name with a different last name is offered as a
   possible change of name (marriage, divorce, deed poll).

Only people with the same date of birth are compared at all, and only at the same
postcode or the same address; see :func:`compare`.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from rapidfuzz.distance import JaroWinkler

# --- thresholds ---------------------------------------------------------------------------
#
# A first or last name is "close" from this Jaro-Winkler similarity up. One typo in a
# name of four letters or more scores 0.89 to 0.98 (Lovelace/Lovelance 0.98, Smith/Smyth
# 0.89, Steven/Stephen 0.89), spelling variants 0.85 (Mohammed/Muhammad, Mary/Maria);
# different names score far lower (Ada/Eve 0, Jane/John 0.67, Tom/Tim 0.80, Ada/Ava
# 0.80). A pair is only compared when the date of birth and the postcode or address
# already agree, so a false alarm costs a member of staff a minute to say "not the same
# person" (twins with similar names, such as Daniel and Danielle, are the usual case),
# while a missed match leaves one person with two records: we lean towards asking.
NAME_PART_CLOSE = 0.85
#: A change of last name rests on the first name alone, so that must agree more closely:
#: the same name or one slip of the keyboard (Ada/Adda 0.93), not merely a similar one.
GIVEN_NAME_SAME = 0.92
#: Initials that fit, or a name that is one part of the other's longer name: as good as
#: one typo, but no better, so an exact match always ranks first.
PART_SCORE = 0.9
#: A possible change of name ranks below every close name: the last names differ.
NAME_CHANGE_WEIGHT = 0.9

# --- reasons ------------------------------------------------------------------------------
SAME_NAME = "same-name"
CLOSE_NAME = "close-name"
SWAPPED_NAMES = "swapped-names"
INITIALS = "initials"
PART_OF_NAME = "part-of-name"
FAMILY_NAME_CHANGED = "family-name-changed"

#: What each reason means, without anybody's name (stored, and shown in lists).
REASON_WORDS = {
    SAME_NAME: "the same name",
    CLOSE_NAME: "a close name",
    SWAPPED_NAMES: "the same name with first and last names swapped",
    INITIALS: "initials that fit the name",
    PART_OF_NAME: "a name that is part of a longer name",
    FAMILY_NAME_CHANGED: "the same first name with a different last name (a change of name?)",
}

SAME_POSTCODE = "postcode"
SAME_ADDRESS = "address"
SAME_POSTCODE_AND_ADDRESS = "postcode-and-address"
PLACE_WORDS = {
    SAME_POSTCODE: "same postcode",
    SAME_ADDRESS: "same address, different postcode",
    SAME_POSTCODE_AND_ADDRESS: "same address and postcode",
}

TITLES = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "miss",
        "mx",
        "dr",
        "prof",
        "professor",
        "sir",
        "dame",
        "lady",
        "lord",
        "rev",
        "revd",
        "reverend",
    ]
)
#: Address words written short or long, always compared long.
ADDRESS_WORDS = {
    "st": "street",
    "rd": "road",
    "ave": "avenue",
    "av": "avenue",
    "ln": "lane",
    "cl": "close",
    "dr": "drive",
    "ct": "court",
    "pl": "place",
    "sq": "square",
    "cres": "crescent",
    "gdns": "gardens",
    "tce": "terrace",
    "terr": "terrace",
    "hse": "house",
    "apt": "flat",
    "apartment": "flat",
}
_APOSTROPHES = re.compile(r"['\u2018\u2019\u02bc`]")
_NOT_LETTERS_OR_DIGITS = re.compile(r"[^0-9a-z]+")


def _plain(text: str) -> str:
    """Accents off, case folded, apostrophes dropped, other punctuation as spaces."""
    decomposed = unicodedata.normalize("NFKD", text)
    letters = "".join(c for c in decomposed if not unicodedata.combining(c))
    folded = _APOSTROPHES.sub("", letters.casefold().replace("ß", "ss"))
    return " ".join(_NOT_LETTERS_OR_DIGITS.sub(" ", folded).split())


def name_tokens(name: str) -> tuple[str, ...]:
    """The words of a name, normalised, without a leading title (unless that is all)."""
    words = _plain(name).split()
    while len(words) > 1 and words[0] in TITLES:
        words = words[1:]
    return tuple(words)


def normalise_postcode(postcode: str) -> str:
    return "".join(postcode.split()).upper()


def normalise_address_line(line: str) -> str:
    return " ".join(ADDRESS_WORDS.get(w, w) for w in _plain(line).split())


@dataclass(frozen=True)
class Person:
    """What registration knows about someone, as typed; the date of birth is compared
    before this (the database query selects by it)."""

    given_name: str
    family_name: str
    address_line_1: str
    town: str
    postcode: str

    @property
    def full_name(self) -> str:
        return f"{self.given_name} {self.family_name}"


@dataclass(frozen=True)
class Match:
    """Why two people may be one: a score from 0 to 1, the reason and where."""

    score: float
    reason: str
    place: str

    def summary(self) -> str:
        """In words, with no personal values: safe to store and to log."""
        return (
            f"same date of birth, {PLACE_WORDS[self.place]}, "
            f"{REASON_WORDS[self.reason]} ({self.score:.2f})"
        )

    def words(self, new: Person, existing: Person) -> str:
        """In words with both names, for the member of staff comparing the records."""
        a, b = new.full_name, existing.full_name
        name = {
            SAME_NAME: f"name '{a}' the same as '{b}'",
            CLOSE_NAME: f"name '{a}' close to '{b}'",
            SWAPPED_NAMES: f"name '{a}' is '{b}' with first and last names swapped",
            INITIALS: f"name '{a}' has initials that fit '{b}'",
            PART_OF_NAME: f"name '{a}' is part of '{b}' or the other way round",
            FAMILY_NAME_CHANGED: f"same first name as '{b}' but last name '{new.family_name}' "
            "(a change of name?)",
        }[self.reason]
        return f"same date of birth, {PLACE_WORDS[self.place]}, {name} ({self.score:.2f})"


@dataclass(frozen=True)
class _Part:
    score: float
    how: str  # "same", "close", "initials" or "part"


def _initials_fit(short: tuple[str, ...], full: tuple[str, ...]) -> bool:
    """``A`` or ``A J`` for ``Ada Jane``: single letters that start the other's names."""
    return (
        bool(short)
        and all(len(w) == 1 for w in short)
        and len(short) <= len(full)
        and all(f.startswith(s) for s, f in zip(short, full, strict=False))
        and not all(len(w) == 1 for w in full)
    )


def _is_part(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """Every word of the shorter name is a word of the longer (double-barrelled names,
    a middle name used as the first name)."""
    shorter, longer = sorted((a, b), key=len)
    return len(shorter) < len(longer) and all(len(w) > 1 and w in longer for w in shorter)


def _compare_part(a: tuple[str, ...], b: tuple[str, ...], initials: bool) -> _Part:
    if not a or not b:
        return _Part(0.0, "close")
    joined_a, joined_b = "".join(a), "".join(b)  # "Mary Ann" and "Maryann" are one name
    if joined_a == joined_b:
        return _Part(1.0, "same")
    best = _Part(JaroWinkler.similarity(joined_a, joined_b), "close")
    if _is_part(a, b):
        best = _Part(max(best.score, PART_SCORE), "part")
    if initials and (_initials_fit(a, b) or _initials_fit(b, a)) and best.score < PART_SCORE:
        best = _Part(PART_SCORE, "initials")
    return best


def _place(new: Person, existing: Person) -> str | None:
    same_postcode = normalise_postcode(new.postcode) == normalise_postcode(existing.postcode)
    same_line = normalise_address_line(new.address_line_1) == normalise_address_line(
        existing.address_line_1
    )
    # The same first line in the same town is the same address, even with a different
    # (mistyped or re-issued) postcode; "1 High Street" in another town is not.
    same_address = same_line and (
        same_postcode or normalise_address_line(new.town) == normalise_address_line(existing.town)
    )
    if same_postcode and same_address:
        return SAME_POSTCODE_AND_ADDRESS
    if same_address:
        return SAME_ADDRESS
    if same_postcode:
        return SAME_POSTCODE
    return None


def _name_match(new: Person, existing: Person) -> tuple[float, str] | None:
    new_given, new_family = name_tokens(new.given_name), name_tokens(new.family_name)
    old_given, old_family = name_tokens(existing.given_name), name_tokens(existing.family_name)
    found: list[tuple[float, str]] = []
    for given_a, family_a, swapped in (
        (new_given, new_family, False),
        (new_family, new_given, True),
    ):
        given = _compare_part(given_a, old_given, initials=not swapped)
        family = _compare_part(family_a, old_family, initials=False)
        if given.score < NAME_PART_CLOSE or family.score < NAME_PART_CLOSE:
            continue
        score = (given.score + family.score) / 2
        if swapped:
            reason = SWAPPED_NAMES
        elif "initials" in (given.how, family.how):
            reason = INITIALS
        elif "part" in (given.how, family.how):
            reason = PART_OF_NAME
        elif given.how == family.how == "same":
            reason = SAME_NAME
        else:
            reason = CLOSE_NAME
        found.append((score, reason))
    return max(found, key=lambda f: f[0]) if found else None


def compare(new: Person, existing: Person) -> Match | None:
    """A match when two people of the same date of birth may be one person, else None.

    They must share the postcode or the address (first line and town), and have close
    names (straight or swapped); or share the address, not just the postcode, and the
    first name, with a different last name.
    """
    place = _place(new, existing)
    if place is None:
        return None
    named = _name_match(new, existing)
    if named is not None:
        score, reason = named
        return Match(round(score, 2), reason, place)
    if place == SAME_POSTCODE:
        return None
    given = _compare_part(
        name_tokens(new.given_name), name_tokens(existing.given_name), initials=False
    )
    if given.score >= GIVEN_NAME_SAME and given.how in ("same", "close"):
        return Match(round(given.score * NAME_CHANGE_WEIGHT, 2), FAMILY_NAME_CHANGED, place)
    return None
