from __future__ import annotations

from pathlib import Path

import pytest

from entitlements.gazetteer import (
    KENT_DISTRICTS,
    Postcode,
    PostcodeError,
    Residency,
    built_in_gazetteer,
    load_ons_postcode_directory,
    table_from_postcodes,
)

MEDWAY = "E06000035"
TONBRIDGE_AND_MALLING = "E07000115"
THANET = "E07000114"
TM = TONBRIDGE_AND_MALLING


def test_kent_is_twelve_districts_and_not_medway() -> None:
    assert len(KENT_DISTRICTS) == 12
    assert "Folkestone and Hythe" in KENT_DISTRICTS.values()
    assert MEDWAY not in KENT_DISTRICTS


@pytest.mark.parametrize(
    ("text", "district", "full"),
    [("me14 1xq", "ME14", "ME14 1XQ"), ("CT91AA", "CT9", "CT9 1AA"), (" me1 ", "ME1", None)],
)
def test_postcodes_parse(text: str, district: str, full: str | None) -> None:
    postcode = Postcode.parse(text)
    assert (postcode.district, postcode.full) == (district, full)


@pytest.mark.parametrize("text", ["", "12345", "ME14 1X", "not a postcode"])
def test_bad_postcodes_are_refused(text: str) -> None:
    with pytest.raises(PostcodeError):
        Postcode.parse(text)


@pytest.mark.parametrize(
    ("postcode", "residency"),
    [
        ("CT9 1AA", Residency.IN_KENT),  # Thanet
        ("ME14", Residency.IN_KENT),  # Maidstone
        ("ME4 4AA", Residency.NOT_IN_KENT),  # Chatham is Medway
        ("ME1 2AB", Residency.NEEDS_EVIDENCE),  # Rochester (Medway) and Wouldham (T&M)
        ("DA1", Residency.NEEDS_EVIDENCE),  # Dartford and Crayford (Bexley)
        ("ZE1 0AA", Residency.UNKNOWN),
    ],
)
def test_built_in_table(postcode: str, residency: Residency) -> None:
    assert built_in_gazetteer().lookup(Postcode.parse(postcode)).residency is residency


def test_a_full_postcode_resolves_a_split_district() -> None:
    places = table_from_postcodes({"ME1 3AA": TONBRIDGE_AND_MALLING, "ME1 1AA": MEDWAY})
    assert places.lookup(Postcode.parse("ME1 3AA")).residency is Residency.IN_KENT
    assert places.lookup(Postcode.parse("ME1 1AA")).residency is Residency.NOT_IN_KENT
    # A postcode in the district the table does not hold: never a guess.
    assert places.lookup(Postcode.parse("ME1 9ZZ")).residency is Residency.NEEDS_EVIDENCE


def _write_onspd(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def test_loads_the_ons_postcode_directory_layout(tmp_path: Path) -> None:
    csv_path = _write_onspd(
        tmp_path / "ONSPD.csv",
        "pcd,pcd2,pcds,dointr,doterm,oscty,ced,oslaua,osward",
        [
            f'"CT9 1AA","CT9  1AA","CT9 1AA","198001","","E10000016","","{THANET}","E05"',
            f'"ME1 3AA","ME1  3AA","ME1 3AA","198001","","E10000016","","{TM}",""',
            f'"ME1 1AA","ME1  1AA","ME1 1AA","198001","","E99999999","","{MEDWAY}",""',
            # terminated in 2001: must not be used
            f'"ME1 9ZZ","ME1  9ZZ","ME1 9ZZ","198001","200106","E99999999","","{MEDWAY}",""',
        ],
    )
    places = load_ons_postcode_directory(csv_path)
    assert places.lookup(Postcode.parse("CT9 1AA")).exact
    assert places.lookup(Postcode.parse("ct91aa")).residency is Residency.IN_KENT
    assert places.lookup(Postcode.parse("ME1 3AA")).residency is Residency.IN_KENT
    assert places.lookup(Postcode.parse("ME1 1AA")).residency is Residency.NOT_IN_KENT
    terminated = places.lookup(Postcode.parse("ME1 9ZZ"))
    assert not terminated.exact
    assert terminated.residency is Residency.NEEDS_EVIDENCE
    assert places.lookup(Postcode.parse("ME1")).residency is Residency.NEEDS_EVIDENCE


def test_loader_keeps_only_chosen_authorities_but_remembers_split_districts(
    tmp_path: Path,
) -> None:
    csv_path = _write_onspd(
        tmp_path / "nspl.csv",
        "pcds,doterm,lad23cd",
        [f"ME1 3AA,,{TONBRIDGE_AND_MALLING}", f"ME1 1AA,,{MEDWAY}"],
    )
    places = load_ons_postcode_directory(csv_path, keep_authorities=KENT_DISTRICTS)
    assert "ME1 1AA" not in places.postcodes
    assert places.lookup(Postcode.parse("ME1 1AA")).residency is Residency.NEEDS_EVIDENCE
    assert places.lookup(Postcode.parse("ME1 3AA")).residency is Residency.IN_KENT


def test_loader_refuses_a_file_without_an_authority_column(tmp_path: Path) -> None:
    csv_path = _write_onspd(tmp_path / "x.csv", "pcds,doterm", ["CT9 1AA,"])
    with pytest.raises(ValueError, match="local authority column"):
        load_ons_postcode_directory(csv_path)
