"""The reader modes are named twice: by the card code (``cardio.decision.Mode``, what a
reader is set to) and by the service (``idservice.cards.decisions.MODE_SERVICES``, which
services each mode honours). They must name the same modes, and every service a mode
honours must be in the catalogue."""

from __future__ import annotations

from cardio.decision import Mode
from idservice.cards.decisions import MODE_SERVICES
from idservice.services.add_service import catalogue


def test_the_reader_modes_are_the_same_on_both_sides() -> None:
    assert set(MODE_SERVICES) == {mode.value for mode in Mode}


def test_every_service_a_mode_honours_is_in_the_catalogue() -> None:
    codes = set(catalogue().codes)
    for mode, services in MODE_SERVICES.items():
        assert services, f"{mode} honours no service"
        assert set(services) <= codes, f"{mode}: {sorted(set(services) - codes)} not in it"
