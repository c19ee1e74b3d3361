from __future__ import annotations

from pathlib import Path

import pytest

from entitlements.gazetteer import (
    AUTHORITY_NAMES,
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
        ("QQ1 1AA", Residency.UNKNOWN),  # no such postcode area
    ],
)
def test_built_in_table(postcode: str, residency: Residency) -> None:
    assert built_in_gazetteer().lookup(Postcode.parse(postcode)).residency is residency


@pytest.mark.parametrize(
    ("postcode", "residency", "places", "council"),
    [
        ("SE1 7PB", Residency.NOT_IN_KENT, ["Lambeth", "Southwark"], None),  # London
        ("SW1A 1AA", Residency.NOT_IN_KENT, ["London"], None),
        ("BR2 9AA", Residency.NOT_IN_KENT, ["Bromley"], "Bromley"),
        ("DA8 1AA", Residency.NOT_IN_KENT, ["Bexley"], "Bexley"),
        ("TN34 1AA", Residency.NOT_IN_KENT, ["Hastings"], "Hastings"),  # East Sussex
        ("TN22 1AA", Residency.NOT_IN_KENT, ["Wealden"], "Wealden"),
        (
            "BN21 4AA",
            Residency.NOT_IN_KENT,
            ["Brighton and Hove", "East Sussex", "West Sussex"],
            None,
        ),
        ("RH1 1AA", Residency.NOT_IN_KENT, ["Surrey"], "Surrey"),
        ("M1 1AE", Residency.NOT_IN_KENT, ["North West England"], None),  # Manchester
        ("EH1 1YZ", Residency.NOT_IN_KENT, ["Scotland"], None),  # Edinburgh
        ("BT1 5GS", Residency.NOT_IN_KENT, ["Northern Ireland"], None),  # Belfast
        ("CF10 1AA", Residency.NOT_IN_KENT, ["Wales"], None),
        ("ZE1 0AA", Residency.NOT_IN_KENT, ["Scotland"], None),  # Lerwick
        ("ME4 4AA", Residency.NOT_IN_KENT, ["Medway"], "Medway"),
        ("ME14 1XQ", Residency.IN_KENT, ["Maidstone"], "Maidstone"),
        ("CT9 1AA", Residency.IN_KENT, ["Thanet"], "Thanet"),
        ("TN16 1AA", Residency.NEEDS_EVIDENCE, ["Bromley", "Sevenoaks", "Tandridge"], None),
        ("DA5 1AA", Residency.NEEDS_EVIDENCE, ["Bexley", "Dartford"], None),
        ("ME1 2AB", Residency.NEEDS_EVIDENCE, ["Medway", "Tonbridge and Malling"], None),
        # A district of an area that touches Kent, not in the table: never a guess.
        ("CT2 7NZ", Residency.UNKNOWN, [], None),
        ("TN8 5AA", Residency.UNKNOWN, [], None),
    ],
)
def test_built_in_tables_name_where_outside_kent(
    postcode: str, residency: Residency, places: list[str], council: str | None
) -> None:
    lookup = built_in_gazetteer().lookup(Postcode.parse(postcode))
    assert (lookup.residency, lookup.authority_names, lookup.council) == (
        residency,
        places,
        council,
    )


def test_every_uk_postcode_area_is_known_and_only_kents_neighbours_go_by_district() -> None:
    areas = built_in_gazetteer().areas
    # 121 UK areas, plus Guernsey, Jersey and the Isle of Man.
    assert len(areas) == 124
    assert {area for area, codes in areas.items() if not codes} == {
        "BR",
        "CT",
        "DA",
        "ME",
        "RH",
        "TN",
    }
    for area, codes in areas.items():
        lookup = built_in_gazetteer().lookup(Postcode.parse(f"{area}99 9ZZ"))
        if codes:  # a made-up district of an area wholly outside Kent: still not in Kent
            assert lookup.residency is Residency.NOT_IN_KENT, area
            assert set(lookup.authority_names) <= set(AUTHORITY_NAMES.values()), area


def test_a_malformed_postcode_is_refused_before_any_table() -> None:
    with pytest.raises(PostcodeError):
        built_in_gazetteer().lookup(Postcode.parse("M1 1A"))


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
