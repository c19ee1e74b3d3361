"""The catalogue's grace periods: data, checked at load like every other rule."""

from __future__ import annotations

import pytest

from entitlements.catalogue import CatalogueError, load_catalogue, parse_catalogue

SERVICE = """
[[service]]
code = "bus"
name = "Bus"
rule = "Live in Kent."
evidence = "checked"
lasts = "5 years"
on_card = false

  [[service.condition]]
  test = "lives-in-kent"
"""


def test_the_bus_passes_run_on_for_90_days_after_a_move_within_england() -> None:
    catalogue = load_catalogue()
    for code in ("bus-pass-older", "bus-pass-disabled", "bus-pass-companion"):
        grace = catalogue.get(code).grace_for("lives-in-kent")
        assert grace is not None and grace.days == 90 and grace.moved_within == "England"
        assert "145A" in grace.source
    assert catalogue.get("library").grace == ()


@pytest.mark.parametrize(
    ("grace", "problem"),
    [
        ('condition = "age-at-least"\ndays = 5\nsource = "x"', "one of the service's tests"),
        ('condition = "lives-in-kent"\ndays = 0\nsource = "x"', "1 to 366"),
        ('condition = "lives-in-kent"\ndays = true\nsource = "x"', "1 to 366"),
        ('condition = "lives-in-kent"\ndays = 5\nsource = " "', "needs a source"),
        (
            'condition = "lives-in-kent"\ndays = 5\nsource = "x"\nmoved_within = "Wales"',
            "moved_within",
        ),
        ('condition = "lives-in-kent"\ndays = 5\nsource = "x"\nweeks = 2', "grace takes only"),
    ],
)
def test_a_wrong_grace_period_stops_the_catalogue_loading(grace: str, problem: str) -> None:
    with pytest.raises(CatalogueError, match=problem):
        parse_catalogue(SERVICE + "\n  [[service.grace]]\n  " + grace.replace("\n", "\n  "))
