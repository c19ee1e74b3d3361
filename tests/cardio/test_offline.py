"""Deciding from the offline list, and the per-mode policy when the list is too old."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from cardio.decision import Mode
from cardio.offline import (
    DEFAULT_POLICY,
    OfflinePolicy,
    PolicyError,
    SnapshotDecisionSource,
    decide_offline,
)
from cardio.snapshot import OfflineList, SnapshotKeyring, SnapshotStore, apply, verify
from cardio.snapshot_format import fingerprint
from tests.cardio.offline_lists import CREATED, LIBRARY, ListSigner, body, grant, hotlist

POINT = bytes.fromhex("04" + "07" * 64)
CARD = fingerprint(POINT)
STOLEN, OTHER = b"\x01" * 8, b"\xee" * 8
TODAY = date(2026, 1, 15)
POLICY = OfflinePolicy.from_json(DEFAULT_POLICY)


def held(mode: str = "transport", *records: bytes) -> OfflineList:
    signer = ListSigner(mode, services=LIBRARY) if mode == "library" else ListSigner()
    keyring = SnapshotKeyring.from_json(signer.public_export())
    return apply(None, verify(signer.full(1, body(*records)), keyring, mode))


TRANSPORT = held(
    "transport",
    grant(CARD, 1, last=date(2026, 12, 31)),
    grant(CARD, 0, first=date(2026, 6, 1)),
    hotlist(STOLEN, "stolen"),
    grant(OTHER, 0, last=date(2025, 12, 31)),
)


def decide(at: datetime, fp: bytes = CARD, mode: str = "transport", day: date = TODAY):  # type: ignore[no-untyped-def]
    listed = TRANSPORT if mode == "transport" else held("library", grant(CARD, 0))
    return decide_offline(listed, fp, mode, day, at, POLICY.for_mode(mode))


def test_a_fresh_list_decides_hotlist_then_the_best_current_entitlement() -> None:
    now = CREATED + timedelta(hours=1)
    allowed = decide(now)
    assert (allowed.allowed, allowed.code, allowed.entitlement) == (
        True,
        "entitled",
        "bus-pass-disabled",
    )
    later = decide(now, day=date(2026, 7, 1))  # the older person's pass has started: best first
    assert later.entitlement == "bus-pass-older"
    assert decide(now, STOLEN).reason == "card reported stolen: keep the card"
    assert decide(now, OTHER).code == "entitlement_expired"
    assert decide(now, b"\x99" * 8).code == "not_entitled"
    assert not any(decide(now, fp).flagged for fp in (CARD, STOLEN, OTHER))


def test_transport_allows_and_flags_when_the_list_is_too_old_but_keeps_the_hotlist() -> None:
    stale = CREATED + timedelta(hours=72, seconds=1)
    assert decide(CREATED + timedelta(hours=72)).code == "entitled"  # 72 h is still fresh
    too_old = decide(stale, b"\x99" * 8)  # not on the list at all
    assert (too_old.allowed, too_old.code, too_old.flagged) == (True, "offline_list_too_old", True)
    assert too_old.reason.startswith("offline list too old (3.0 days old)")
    assert decide(stale, STOLEN).code == "hotlisted"


def test_library_refuses_loans_when_the_list_is_too_old() -> None:
    assert decide(CREATED + timedelta(days=7), mode="library").code == "entitled"
    refused = decide(CREATED + timedelta(days=7, minutes=1), mode="library")
    assert (refused.allowed, refused.code) == (False, "offline_list_too_old")
    assert "loans refused" in refused.reason


def test_no_list_follows_the_same_policy() -> None:
    transport = decide_offline(
        None, CARD, "transport", TODAY, CREATED, POLICY.for_mode("transport")
    )
    library = decide_offline(None, CARD, "library", TODAY, CREATED, POLICY.for_mode("library"))
    assert (transport.allowed, transport.code, transport.flagged) == (True, "no_offline_list", True)
    assert (library.allowed, library.code) == (False, "no_offline_list")


def test_the_policy_is_data_a_reader_can_change(tmp_path: Path) -> None:
    document = json.loads(json.dumps(DEFAULT_POLICY))
    document["modes"]["transport"].update(max_age_hours=1, when_too_old="list", flag=True)
    (tmp_path / "offline-policy.json").write_text(json.dumps(document))
    policy = OfflinePolicy.load(tmp_path).for_mode("transport")
    decided = decide_offline(
        TRANSPORT, CARD, "transport", TODAY, CREATED + timedelta(hours=2), policy
    )
    assert (decided.allowed, decided.code, decided.flagged) == (True, "entitled", True)
    assert decided.reason.endswith("(offline list too old (2 hours old))")
    assert OfflinePolicy.load(tmp_path / "none").for_mode("library").max_age_hours == 168


@pytest.mark.parametrize(
    "change",
    [
        {"format": "other"},
        {"modes": {}},
        {"modes": {"transport": {"max_age_hours": 0, "when_too_old": "allow"}}},
        {"modes": {"transport": {"max_age_hours": 5, "when_too_old": "maybe"}}},
        {"modes": {"transport": {"when_too_old": "allow"}}},
    ],
)
def test_a_malformed_policy_is_refused(change: dict[str, object]) -> None:
    with pytest.raises(PolicyError):
        OfflinePolicy.from_json({**DEFAULT_POLICY, **change})


def test_the_source_decides_by_the_card_key_it_is_given(
    tmp_path: Path,
) -> None:
    store = SnapshotStore(tmp_path, "transport", SnapshotKeyring())
    store.current = TRANSPORT
    source = SnapshotDecisionSource(store, POLICY, now=lambda: CREATED)
    assert source.decide("x", Mode.TRANSPORT, TODAY, public_point=POINT).code == "entitled"
    assert source.decide("x", Mode.TRANSPORT, TODAY).code == "not_entitled"
