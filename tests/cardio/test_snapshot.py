"""The reader's offline list: the bytes, verification, refusals, deltas and keeping it."""

from __future__ import annotations

import json
import struct
from datetime import date, timedelta
from pathlib import Path

import pytest

from cardio.certificate import sign_raw
from cardio.snapshot import (
    OfflineList,
    SnapshotKeyring,
    SnapshotKeyringError,
    SnapshotRefused,
    SnapshotStore,
    apply,
    verify,
)
from cardio.snapshot_format import (
    MAGIC,
    RECORD_LENGTH,
    SnapshotFormatError,
    decode,
    fingerprint,
    parse_header,
)
from tests.cardio.offline_lists import CREATED, ListSigner, body, grant, hotlist

A, B, C, D = (bytes([n]) * 8 for n in (0x11, 0x22, 0x33, 0x44))
UNTIL = date(2027, 3, 31)


@pytest.fixture(scope="module")
def signer() -> ListSigner:
    return ListSigner()


@pytest.fixture
def keyring(signer: ListSigner) -> SnapshotKeyring:
    return SnapshotKeyring.from_json(signer.public_export())


def test_a_record_is_thirteen_bytes_as_the_readers_document_says() -> None:
    """From docs/readers.md: fingerprint, code, first day, last day (days since 1970)."""
    assert grant(A, 1, date(2026, 1, 1), UNTIL).hex() == "1111111111111111" + "01" + "4fe6" + "51ac"
    assert grant(A, 0).hex() == "1111111111111111" + "00" + "0000" + "ffff"
    assert hotlist(B, "stolen").hex() == "2222222222222222" + "82" + "0000" + "0000"
    assert hotlist(B, "cancelled").hex()[16:18] == "85"
    point = bytes.fromhex("04" + "01" * 64)
    assert fingerprint(point).hex() == "b5a3eade23affe3f"  # SHA-256(point)[:8]


def test_the_bytes_are_laid_out_as_documented(signer: ListSigner) -> None:
    blob = signer.full(7, body(grant(A, 0), hotlist(B, "lost")))
    assert blob[:8] == MAGIC == b"KCSNAP1\n"
    (header_length,) = struct.unpack(">I", blob[8:12])
    header = json.loads(blob[12 : 12 + header_length])
    assert header["format"] == "kentcard-offline-list/1"
    assert (header["kind"], header["version"], header["base_version"]) == ("full", 7, None)
    assert header["created_at"] == "2026-01-15T06:00:00Z"
    (body_length,) = struct.unpack(">I", blob[12 + header_length : 16 + header_length])
    assert body_length == 2 * RECORD_LENGTH
    assert len(blob) == 16 + header_length + body_length + 64


def test_a_full_list_decides_from_the_reader_alone(
    signer: ListSigner, keyring: SnapshotKeyring
) -> None:
    records = body(grant(A, 1, last=UNTIL), grant(A, 0, first=date(2027, 1, 1)), hotlist(B, "lost"))
    held = apply(None, verify(signer.full(1, records), keyring, "transport"))
    assert len(held) == 3 and held.version == 1
    assert [r.code for r in held.lookup(A)] == [0, 1]
    assert [r.code for r in held.lookup(B)] == [0x81]
    assert held.lookup(C) == []


@pytest.mark.parametrize(
    ("tamper", "code"),
    [
        (lambda b: b[:-1] + bytes([b[-1] ^ 1]), "bad_signature"),  # forged signature
        (lambda b: b[:-70] + bytes([b[-70] ^ 1]) + b[-69:], "bad_signature"),  # a record changed
        (lambda b: b"KCSNAP2\n" + b[8:], "bad_format"),
        (lambda b: b[:-1], "bad_format"),  # truncated
        (lambda b: b + b"\x00", "bad_format"),  # trailing bytes
        (lambda b: b[:20], "bad_format"),
        (lambda b: b"", "bad_format"),
    ],
)
def test_a_tampered_list_is_refused(signer: ListSigner, keyring: SnapshotKeyring, tamper, code):  # type: ignore[no-untyped-def]
    blob = signer.full(1, body(grant(A, 0), grant(C, 1)))
    with pytest.raises(SnapshotRefused) as refused:
        verify(tamper(blob), keyring, "transport")
    assert refused.value.code == code


def test_a_list_from_an_unknown_key_or_for_another_mode_is_refused(
    keyring: SnapshotKeyring,
) -> None:
    with pytest.raises(SnapshotRefused) as refused:
        verify(ListSigner().full(1, body(grant(A, 0))), keyring, "transport")
    assert refused.value.code == "unknown_key"
    with pytest.raises(SnapshotRefused) as refused:
        verify(ListSigner().full(1, body(grant(A, 0))), keyring, "library")
    assert refused.value.code == "wrong_mode"


def _resign(signer: ListSigner, blob: bytes, change) -> bytes:  # type: ignore[no-untyped-def]
    """The same list with its body changed and signed again with the real key: only the
    format checks can catch it."""
    snapshot = decode(blob)
    signed = change(snapshot.signed)
    return signed + sign_raw(signer.key, signed)


def test_well_signed_but_malformed_lists_are_refused(
    signer: ListSigner, keyring: SnapshotKeyring
) -> None:
    blob = signer.full(1, body(grant(A, 0), grant(C, 1)))
    last, before = slice(-RECORD_LENGTH, None), slice(-2 * RECORD_LENGTH, -RECORD_LENGTH)
    malformed = {
        "sorted": lambda s: s[: -2 * RECORD_LENGTH] + s[last] + s[before],
        "no listed service": lambda s: s[:-5] + b"\x05" + s[-4:],
        "hotlisted and entitled": lambda s: s[:-RECORD_LENGTH] + hotlist(A, "lost"),
        "unknown hotlist code": lambda s: s[:-5] + b"\x99" + bytes(4),
    }
    for words, change in malformed.items():
        with pytest.raises(SnapshotRefused) as refused:
            verify(_resign(signer, blob, change), keyring, "transport")
        assert refused.value.code == "bad_format"
        assert words in str(refused.value), words


@pytest.mark.parametrize(
    "header",
    [
        b"[]",
        b'{"format": "kentcard-offline-list/1"}',
        b"\xff\xfe",
    ],
)
def test_a_header_that_is_not_the_documented_object_is_refused(header: bytes) -> None:
    with pytest.raises(SnapshotFormatError):
        parse_header(header)


def test_deltas_apply_in_order_and_reproduce_the_signed_state(
    signer: ListSigner, keyring: SnapshotKeyring
) -> None:
    v1 = body(grant(A, 0), grant(B, 1, last=UNTIL), grant(C, 0))
    v2 = body(grant(A, 0), hotlist(B, "stolen"), grant(D, 1))  # B hotlisted, C gone, D new
    v3 = body(grant(A, 0), grant(A, 1), hotlist(B, "stolen"), grant(D, 1))
    held = apply(None, verify(signer.full(1, v1), keyring, "transport"))
    held = apply(held, verify(signer.delta(1, 2, v1, v2), keyring, "transport"))
    assert held.records == v2 and held.version == 2
    assert [r.code for r in held.lookup(B)] == [0x82] and held.lookup(C) == []
    held = apply(held, verify(signer.delta(2, 3, v2, v3), keyring, "transport"))
    assert held.records == v3
    same = apply(held, verify(signer.delta(3, 3, v3, v3), keyring, "transport"))
    assert same is held  # "nothing new" changes nothing


def test_versions_out_of_order_are_refused_and_the_last_good_list_kept(
    signer: ListSigner, keyring: SnapshotKeyring, tmp_path: Path
) -> None:
    v1, v2 = body(grant(A, 0)), body(grant(A, 0), hotlist(B, "lost"))
    store = SnapshotStore(tmp_path, "transport", keyring)
    store.accept(signer.full(1, v1))
    store.accept(signer.delta(1, 2, v1, v2))
    on_disk = store.path.read_bytes()
    attempts = {
        "older_version": signer.full(1, v1),  # a replayed older list
        "out_of_order": signer.delta(1, 3, v1, v2),  # a delta from a version not held
    }
    for code, blob in attempts.items():
        with pytest.raises(SnapshotRefused) as refused:
            store.accept(blob)
        assert refused.value.code == code
        assert store.current is not None and store.current.version == 2
        assert store.last_refusal is refused.value
        assert store.path.read_bytes() == on_disk
    with pytest.raises(SnapshotRefused) as refused:
        store.accept(signer.delta(2, 3, v2, v1, state_sha256="0" * 64))
    assert refused.value.code == "state_mismatch"
    earlier = signer.header("full", 5, None).created_at - timedelta(days=1)
    with pytest.raises(SnapshotRefused) as refused:
        store.accept(signer.full(5, v1, created_at=earlier))
    assert refused.value.code == "out_of_order"  # made before the list held
    assert SnapshotStore(tmp_path, "transport", keyring).load() == store.current


def test_a_delta_needs_a_full_list_first(signer: ListSigner, keyring: SnapshotKeyring) -> None:
    with pytest.raises(SnapshotRefused) as refused:
        apply(None, verify(signer.delta(1, 2, b"", body(grant(A, 0))), keyring, "transport"))
    assert refused.value.code == "out_of_order"


def test_the_list_held_survives_a_restart_and_a_damaged_file_is_refused(
    signer: ListSigner, keyring: SnapshotKeyring, tmp_path: Path
) -> None:
    v1, v2 = body(grant(A, 0)), body(grant(B, 1))
    store = SnapshotStore(tmp_path, "transport", keyring)
    store.accept(signer.full(1, v1))
    store.accept(signer.delta(1, 2, v1, v2))
    again = SnapshotStore(tmp_path, "transport", keyring)
    loaded = again.load()
    assert isinstance(loaded, OfflineList) and loaded.records == v2 and loaded.version == 2
    data = bytearray(store.path.read_bytes())
    data[-1] ^= 1  # one bit of the records on disk
    store.path.write_bytes(bytes(data))
    with pytest.raises(SnapshotRefused) as refused:
        SnapshotStore(tmp_path, "transport", keyring).load()
    assert refused.value.code == "state_mismatch"


def test_a_running_reader_picks_up_a_list_loaded_by_another_process(
    signer: ListSigner, keyring: SnapshotKeyring, tmp_path: Path
) -> None:
    running = SnapshotStore(tmp_path, "transport", keyring)
    assert running.load() is None
    SnapshotStore(tmp_path, "transport", keyring).accept(signer.full(1, body(grant(A, 0))))
    running.reload_if_changed()
    assert running.current is not None and running.current.version == 1


def test_the_keyring_reads_only_snapshot_keys(signer: ListSigner) -> None:
    export = signer.public_export()
    assert len(SnapshotKeyring.from_json(export)) == 1
    assert len(SnapshotKeyring.from_json({"keys": export["snapshot_keys"]})) == 0
    wrong_id = {"snapshot_keys": [{**export["snapshot_keys"][0], "key_id": "00" * 8}]}  # type: ignore[index]
    with pytest.raises(SnapshotKeyringError):
        SnapshotKeyring.from_json(wrong_id)


def test_created_at_is_the_signed_time(signer: ListSigner, keyring: SnapshotKeyring) -> None:
    held = apply(None, verify(signer.full(1, body(grant(A, 0))), keyring, "transport"))
    assert held.created_at == CREATED
    assert held.age_seconds(CREATED - timedelta(hours=1)) == 0  # a reader clock behind
