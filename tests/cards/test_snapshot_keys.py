"""The snapshot key: in the issuer's store, encrypted, rotated, exported for readers."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric import ec

from cardio.certificate import key_id_of
from cardio.issuer import IssuerError, IssuerLocked
from cardio.snapshot import SnapshotKeyring, SnapshotRefused, verify
from idservice.cards.issuer_keys import issuer_store
from idservice.cli import main
from tests.cardio.offline_lists import ListSigner, body, grant
from tests.cards import key_hook
from tests.cards.test_issuer_keys import FIVE_YEARS, TODAY, cli_instance, run, store

__all__ = ["cli_instance"]


def test_init_makes_an_encrypted_snapshot_key_that_readers_get_the_public_half_of(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "issuer"
    store(folder).init(TODAY)
    key = store(folder).load_snapshot_key()
    pem = next(folder.glob("snapshot-key-*.pem")).read_bytes()
    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    with pytest.raises(IssuerLocked):
        store(folder, b"not the passphrase at all").load_snapshot_key()
    export = store(folder, None).export_public(TODAY)  # no passphrase needed
    (entry,) = export["snapshot_keys"]
    assert entry["key_id"] == key_id_of(key.public_key()).hex() and entry["status"] == "active"
    assert "snapshot" not in json.dumps(export["keys"])  # card keys and list keys apart
    signed = ListSigner(key=key).full(1, body(grant(b"\x01" * 8, 0)))
    assert verify(signed, SnapshotKeyring.from_json(export), "transport").version == 1


def test_rotation_keeps_lists_signed_with_the_old_key_loadable_for_a_while(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "issuer"
    store(folder).init(TODAY)
    old = store(folder).load_snapshot_key()
    new = store(folder).rotate_snapshot_key(overlap_days=30, today=TODAY)
    assert store(folder).load_snapshot_key().private_numbers() == new.private_numbers()
    old_entry, new_entry = store(folder).export_public(TODAY)["snapshot_keys"]
    assert old_entry["key_id"] == key_id_of(old.public_key()).hex()
    assert (old_entry["status"], old_entry["verify_until"]) == (
        "verify-only",
        (TODAY + timedelta(days=30)).isoformat(),
    )
    assert new_entry["status"] == "active"
    later = store(folder).export_public(TODAY + timedelta(days=31))
    assert len(later["snapshot_keys"]) == 1
    old_list = ListSigner(key=old).full(1, body(grant(b"\x01" * 8, 0)))
    with pytest.raises(SnapshotRefused) as refused:
        verify(old_list, SnapshotKeyring.from_json(later), "transport")
    assert refused.value.code == "unknown_key"
    store(folder).rotate(FIVE_YEARS, TODAY)  # a certificate key rotation keeps them
    assert len(store(folder).snapshot_keys()) == 2


def test_an_issuer_made_before_snapshot_keys_gets_one_on_first_rotation(tmp_path: Path) -> None:
    folder = tmp_path / "issuer"
    store(folder).init(TODAY)
    metadata = json.loads((folder / "issuer.json").read_text())
    del metadata["snapshot_key_id"], metadata["snapshot_keys"]
    (folder / "issuer.json").write_text(json.dumps(metadata))
    with pytest.raises(IssuerError, match="rotate --key snapshot"):
        store(folder).load_snapshot_key()
    assert store(folder).export_public(TODAY)["snapshot_keys"] == []
    made = store(folder).rotate_snapshot_key(today=TODAY)
    (entry,) = store(folder).export_public(TODAY)["snapshot_keys"]
    assert entry["key_id"] == key_id_of(made.public_key()).hex()
    with pytest.raises(IssuerLocked):
        store(folder, b"a wrong passphrase!!").rotate_snapshot_key(today=TODAY)


def test_the_command_rotates_the_snapshot_key_and_updates_the_reader_folder(
    cli_instance: Path,
) -> None:
    run("issuer", "init")
    reader_keys = cli_instance / "reader" / "issuer-keys.json"
    assert len(json.loads(reader_keys.read_text())["snapshot_keys"]) == 1
    output = run("issuer", "rotate", "--key", "snapshot")
    assert "signs offline lists" in output
    assert len(json.loads(reader_keys.read_text())["snapshot_keys"]) == 2
    assert len(json.loads(reader_keys.read_text())["keys"]) == 1  # the card keys untouched


def test_a_key_manager_holds_the_snapshot_key_too(
    cli_instance: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KENTCARD_ISSUER_PASSPHRASE")
    monkeypatch.setenv("KENTCARD_ISSUER_KEY_HOOK", "tests.cards.key_hook:key")
    keys = {
        role: ec.generate_private_key(ec.SECP256R1()) for role in ("certificate", "personalisation")
    }
    monkeypatch.setattr(key_hook, "KEYS", keys)
    run("issuer", "init")
    with pytest.raises(IssuerError, match="no snapshot key yet"):
        issuer_store(cli_instance).load_snapshot_key()
    failed = CliRunner().invoke(main, ["issuer", "rotate", "--key", "snapshot"])
    assert failed.exit_code == 1 and "did not return the snapshot key" in failed.output
    key_hook.KEYS["snapshot"] = ec.generate_private_key(ec.SECP256R1())
    run("issuer", "rotate", "--key", "snapshot")
    opened = issuer_store(cli_instance).load_snapshot_key()
    assert opened.private_numbers() == key_hook.KEYS["snapshot"].private_numbers()
    assert not list((cli_instance / "issuer").glob("*.pem"))  # nothing secret on disk
    assert date.today().isoformat() in run("issuer", "export-public")
