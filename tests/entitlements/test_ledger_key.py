"""The ledger's signing key is encrypted at rest with the issuer key passphrase.

A copy of the instance folder alone (a backup, a misplaced disk image) must not be enough
to sign tree heads over edited events, so the key is a PKCS#8 PEM encrypted with the same
passphrase that protects the card issuer's keys; a key written before that is rewritten
encrypted the first time it is opened with the passphrase.
"""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from sqlalchemy import Engine

from entitlements.ledger.signing import KEY_FILE, LedgerKeyError, load_or_create_key
from entitlements.ledger.store import append
from idservice.cards.issuer_keys import DEV_PASSPHRASE_FILE
from idservice.cli import main
from tests.entitlements.ledger_helpers import event

PASSPHRASE = b"correct horse battery staple"


def _is_encrypted(path: Path) -> bool:
    return path.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")


def test_a_new_key_is_written_encrypted_and_private(tmp_path: Path) -> None:
    key = load_or_create_key(tmp_path, PASSPHRASE)
    path = tmp_path / KEY_FILE
    assert _is_encrypted(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(TypeError):  # the file alone opens nothing
        serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert load_or_create_key(tmp_path, PASSPHRASE).key_id == key.key_id


def test_a_plain_key_is_rewritten_encrypted_once_and_keeps_its_id(tmp_path: Path) -> None:
    plain = load_or_create_key(tmp_path)  # as written before keys were protected
    path = tmp_path / KEY_FILE
    assert not _is_encrypted(path)
    opened = load_or_create_key(tmp_path, PASSPHRASE)
    assert opened.key_id == plain.key_id
    assert _is_encrypted(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == [KEY_FILE]  # no copy left behind
    assert load_or_create_key(tmp_path, PASSPHRASE).key_id == plain.key_id


def test_without_the_right_passphrase_the_key_does_not_open(tmp_path: Path) -> None:
    load_or_create_key(tmp_path, PASSPHRASE)
    with pytest.raises(LedgerKeyError, match="passphrase is needed"):
        load_or_create_key(tmp_path)
    with pytest.raises(LedgerKeyError, match="cannot be opened"):
        load_or_create_key(tmp_path, b"another long passphrase")
    with pytest.raises(LedgerKeyError, match="at least 12"):
        load_or_create_key(tmp_path / "new", b"short")


def test_ledger_commands_encrypt_an_existing_plain_key_with_the_issuer_passphrase(
    engine: Engine, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    instance = tmp_path / "instance"
    plain = load_or_create_key(instance)
    monkeypatch.setenv("KENTCARD_DATABASE_URL", database_url)
    monkeypatch.setenv("KENTCARD_INSTANCE_PATH", str(instance))
    monkeypatch.setenv("KENTCARD_SECRET_KEY", "test-only")
    monkeypatch.delenv("KENTCARD_ISSUER_KEY_HOOK", raising=False)
    monkeypatch.delenv("KENTCARD_ISSUER_PASSPHRASE_FILE", raising=False)
    monkeypatch.setenv("KENTCARD_ISSUER_PASSPHRASE", PASSPHRASE.decode())
    append(engine, [event(i) for i in range(1, 4)])
    runner = CliRunner()
    signed = runner.invoke(main, ["ledger", "sign"])
    assert signed.exit_code == 0, signed.output
    assert plain.key_id in signed.output  # the same key signs, now kept encrypted
    assert _is_encrypted(instance / KEY_FILE)
    verified = runner.invoke(main, ["ledger", "verify"])
    assert verified.exit_code == 0 and "3 events, 1 signed tree heads" in verified.output

    monkeypatch.setenv("KENTCARD_ISSUER_PASSPHRASE", "a different passphrase")
    refused = runner.invoke(main, ["ledger", "verify"])
    assert refused.exit_code == 1
    assert "cannot be opened" in refused.output and "Traceback" not in refused.output


def test_the_embedded_default_encrypts_with_the_development_passphrase(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from idservice.cards.issuer_keys import ledger_signing_key

    for name in (
        "KENTCARD_ISSUER_KEY_HOOK",
        "KENTCARD_ISSUER_PASSPHRASE",
        "KENTCARD_ISSUER_PASSPHRASE_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    key = ledger_signing_key(tmp_path, f"sqlite:///{tmp_path / 'kentcard.db'}")
    assert (tmp_path / DEV_PASSPHRASE_FILE).exists()
    assert _is_encrypted(tmp_path / KEY_FILE)
    assert ledger_signing_key(tmp_path, "sqlite:///x.db").key_id == key.key_id
