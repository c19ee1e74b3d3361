"""Issuer keys: encrypted at rest, rotated without stranding old cards, exported public.

Cards go through the virtual Kent Card in process; the tap API test uses the suite's app
and its database (SQLite or PostgreSQL).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Flask
from flask.testing import FlaskClient

from cardio.cardnumber import luhn_check_digit
from cardio.issuer import Issuer, IssuerLocked, IssuerStore, KeyProtection
from cardio.keyring import IssuerKeyring
from cardio.personalise import issue
from cardio.verify import TapRejected, authenticate
from hardware.virtual_card import InProcessConnection, VirtualKentCard
from idservice.cards import issuance
from idservice.cards.issuer_keys import DEV_PASSPHRASE_FILE, issuer_store
from idservice.cli import main
from idservice.config import Settings
from tests.cards import key_hook
from tests.cards.conftest import PIN, TODAY, grant
from tests.cards.test_issuance import issue_one
from tests.cards.test_taps_api import bearer, reader, tap_body  # noqa: F401 (fixture)

PASSPHRASE = b"correct horse battery staple"
FIVE_YEARS = 5 * 366


def store(folder: Path, passphrase: bytes | None = PASSPHRASE) -> IssuerStore:
    return IssuerStore(folder, KeyProtection(passphrase, source="the test passphrase"))


def numbered(payload: str) -> str:
    return payload + luhn_check_digit(payload)


def new_card(issuer: Issuer, number: str, expiry: date) -> VirtualKentCard:
    card = VirtualKentCard.blank(issuer.personalisation_key.public_point)
    issue(InProcessConnection(card), issuer, number, expiry, PIN, TODAY)
    return card


def tap(card: VirtualKentCard, keyring: IssuerKeyring, on: date = TODAY) -> bytes:
    verified, _ = authenticate(InProcessConnection(card), keyring, on)
    return verified.issuer_key_id


# -- encrypted at rest ----------------------------------------------------------------------


def test_keys_are_written_encrypted_and_private(tmp_path: Path) -> None:
    issuer = store(tmp_path / "issuer").init(TODAY)
    pems = sorted((tmp_path / "issuer").glob("*.pem"))
    assert [pem.name.split("-key-")[0] for pem in pems] == [
        "certificate",
        "personalisation",
        "snapshot",
    ]
    for pem in pems:
        assert pem.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
        assert pem.stat().st_mode & 0o777 == 0o600
        with pytest.raises(TypeError):  # cannot be read without the passphrase
            serialization.load_pem_private_key(pem.read_bytes(), password=None)
    loaded = store(tmp_path / "issuer").load(TODAY)
    assert loaded.certificate_key_id == issuer.certificate_key_id
    assert loaded.personalisation_key.key_id == issuer.personalisation_key.key_id


def test_a_wrong_or_missing_passphrase_refuses_to_sign_with_a_clear_message(
    tmp_path: Path,
) -> None:
    store(tmp_path / "issuer").init(TODAY)
    with pytest.raises(IssuerLocked, match=r"the test passphrase does not open .*check the pass"):
        store(tmp_path / "issuer", b"not the passphrase at all").load(TODAY)
    with pytest.raises(IssuerLocked, match="no passphrase is set: set KENTCARD_ISSUER_PASSPHRASE"):
        store(tmp_path / "issuer", None).load(TODAY)


def test_keys_are_never_written_without_a_good_passphrase(tmp_path: Path) -> None:
    with pytest.raises(IssuerLocked, match="KENTCARD_ISSUER_PASSPHRASE"):
        store(tmp_path / "issuer", None).init(TODAY)
    with pytest.raises(IssuerLocked, match="at least 12 characters"):
        store(tmp_path / "issuer", b"short").init(TODAY)
    assert not (tmp_path / "issuer").exists()


# -- rotation -------------------------------------------------------------------------------


def test_rotation_keeps_old_cards_valid_and_new_cards_carry_the_new_key(tmp_path: Path) -> None:
    folder = tmp_path / "issuer"
    first = store(folder).init(TODAY - timedelta(days=400))
    old_card = new_card(
        first, "982601000000001" + luhn_check_digit("982601000000001"), date(2031, 11, 22)
    )

    second = store(folder).rotate(card_validity_days=FIVE_YEARS, today=TODAY)
    assert second.certificate_key_id != first.certificate_key_id
    assert second.personalisation_key.key_id == first.personalisation_key.key_id
    new = new_card(
        store(folder).load(TODAY),
        "982601000000002" + luhn_check_digit("982601000000002"),
        date(2031, 11, 23),
    )

    keyring = store(folder).public_keyring(TODAY)  # what the readers get
    assert tap(old_card, keyring) == first.certificate_key_id
    assert tap(new, keyring) == second.certificate_key_id
    assert keyring.get(first.certificate_key_id).status == "verify-only"  # type: ignore[union-attr]
    assert keyring.get(second.certificate_key_id).status == "active"  # type: ignore[union-attr]
    # The issuer's own keyring (the confirming tap at the counter) agrees.
    assert tap(old_card, store(folder).load(TODAY).keyring()) == first.certificate_key_id

    # Once every card the old key can have signed has expired, it leaves the keyring.
    records = {r.key_id: r for r in store(folder).certificate_keys()}
    old = records[first.certificate_key_id.hex()]
    assert (old.signs_until, old.verify_until) == (TODAY, TODAY + timedelta(days=FIVE_YEARS))
    later = old.verify_until + timedelta(days=1)  # type: ignore[operator]
    assert store(folder).public_keyring(later).get(first.certificate_key_id) is None
    with pytest.raises(TapRejected):
        tap(old_card, store(folder).public_keyring(later), on=date(2031, 1, 1))


def test_rotation_needs_the_passphrase_and_changes_nothing_without_it(tmp_path: Path) -> None:
    folder = tmp_path / "issuer"
    store(folder).init(TODAY)
    before = (folder / "issuer.json").read_text()
    with pytest.raises(IssuerLocked):
        store(folder, b"the wrong passphrase!").rotate(FIVE_YEARS, TODAY)
    assert (folder / "issuer.json").read_text() == before
    assert len(list(folder.glob("*.pem"))) == 3


# -- export ---------------------------------------------------------------------------------


@pytest.fixture
def cli_instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    instance = tmp_path / "instance"
    for name in ("KENTCARD_ISSUER_KEY_HOOK", "KENTCARD_ISSUER_PASSPHRASE_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KENTCARD_INSTANCE_PATH", str(instance))
    monkeypatch.setenv("KENTCARD_ISSUER_PASSPHRASE", PASSPHRASE.decode())
    monkeypatch.setenv("KENTCARD_SECRET_KEY", "test-only")
    monkeypatch.delenv("KENTCARD_DATABASE_URL", raising=False)
    yield instance


def run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_export_public_lists_every_key_with_its_validity_and_no_secret(
    cli_instance: Path, tmp_path: Path
) -> None:
    run("issuer", "init")
    run("issuer", "rotate")
    out = tmp_path / "readers" / "issuer-keys.json"
    run("issuer", "export-public", "--out", str(out))
    document = json.loads(out.read_text())
    keyring = IssuerKeyring.from_json(document)  # what a reader loads
    assert len(keyring) == 2
    assert [k["status"] for k in document["keys"]] == ["verify-only", "active"]
    for entry in document["keys"]:
        assert set(entry) == {
            "key_id", "public_key", "status", "valid_from", "signs_until", "verify_until"
        }  # fmt: skip
    old, new = document["keys"]
    assert old["signs_until"] == date.today().isoformat() and old["verify_until"]
    assert new["signs_until"] is None and new["verify_until"] is None
    # No private material: no PEM, and no private scalar of either certificate key.
    text = out.read_text()
    assert "PRIVATE" not in text and "BEGIN" not in text
    issuer = issuer_store(cli_instance).load()
    scalars = [issuer.certificate_key.private_numbers().private_value]
    scalars.append(issuer.personalisation_key.private_key.private_numbers().private_value)
    for scalar in scalars:
        assert f"{scalar:064x}" not in text.lower()
    assert run("issuer", "export-public") == text  # standard output: the same document


def test_export_public_needs_no_passphrase(
    cli_instance: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run("issuer", "init")
    monkeypatch.delenv("KENTCARD_ISSUER_PASSPHRASE")
    assert len(IssuerKeyring.from_json(json.loads(run("issuer", "export-public")))) == 1


def test_cli_wrong_passphrase_is_one_clear_line(
    cli_instance: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    run("issuer", "init")
    monkeypatch.setenv("KENTCARD_ISSUER_PASSPHRASE", "something else entirely")
    result = CliRunner().invoke(main, ["issuer", "rotate"])
    assert result.exit_code == 1
    assert "does not open" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(
        main, ["virtual-card", "new", "--state", str(tmp_path / "card.json")]
    )
    assert result.exit_code == 1 and "check the passphrase" in result.output


def test_passphrase_file_setting(cli_instance: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = cli_instance.parent / "issuer-passphrase"
    secret.write_text("a passphrase from a mounted secret\n")
    monkeypatch.delenv("KENTCARD_ISSUER_PASSPHRASE")
    monkeypatch.setenv("KENTCARD_ISSUER_PASSPHRASE_FILE", str(secret))
    assert "KENTCARD_ISSUER_PASSPHRASE_FILE" in run("issuer", "init")
    opened = IssuerStore(
        cli_instance / "issuer", KeyProtection(b"a passphrase from a mounted secret")
    ).load()
    assert len(opened.keyring()) == 1


def test_development_passphrase_only_for_the_embedded_database(
    cli_instance: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KENTCARD_ISSUER_PASSPHRASE")
    monkeypatch.setenv("KENTCARD_DATABASE_URL", "postgresql+psycopg://db.example/kentcard")
    result = CliRunner().invoke(main, ["issuer", "init"])
    assert result.exit_code == 1 and "KENTCARD_ISSUER_PASSPHRASE" in result.output
    assert not (cli_instance / DEV_PASSPHRASE_FILE).exists()
    monkeypatch.delenv("KENTCARD_DATABASE_URL")
    assert "development only" in run("issuer", "init")
    dev = cli_instance / DEV_PASSPHRASE_FILE
    assert dev.stat().st_mode & 0o777 == 0o600
    assert issuer_store(cli_instance).load().certificate_key_id  # opens with no setting


# -- migration of keys written before encryption --------------------------------------------


def _old_style_issuer(folder: Path) -> Issuer:
    """What ``kentcard issuer init`` wrote before keys were encrypted (format 1)."""
    folder.mkdir(parents=True)
    issuer = Issuer.generate()
    keys = {"certificate": issuer.certificate_key, "personalisation": issuer.personalisation_key}
    ids = {}
    for role, key in keys.items():
        private = key if isinstance(key, ec.EllipticCurvePrivateKey) else key.private_key
        key_id = (
            issuer.certificate_key_id
            if role == "certificate"
            else issuer.personalisation_key.key_id
        ).hex()
        ids[role] = key_id
        (folder / f"{role}-key-{key_id}.pem").write_bytes(
            private.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    metadata = {
        "format": "kentcard-issuer/1",
        "certificate_key_id": ids["certificate"],
        "personalisation_key_id": ids["personalisation"],
    }
    (folder / "issuer.json").write_text(json.dumps(metadata))
    return issuer


def test_unencrypted_keys_are_refused_until_encrypted(cli_instance: Path) -> None:
    old = _old_style_issuer(cli_instance / "issuer")
    result = CliRunner().invoke(main, ["virtual-card", "new", "--state", "x.json"])
    assert result.exit_code == 1 and "kentcard issuer encrypt" in result.output
    assert "encrypted with KENTCARD_ISSUER_PASSPHRASE" in run("issuer", "encrypt")
    for pem in (cli_instance / "issuer").glob("*.pem"):
        assert pem.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    opened = issuer_store(cli_instance).load()
    assert opened.certificate_key_id == old.certificate_key_id
    assert opened.personalisation_key.key_id == old.personalisation_key.key_id
    result = CliRunner().invoke(main, ["issuer", "encrypt"])
    assert result.exit_code == 1 and "already encrypted" in result.output


# -- key-management hook --------------------------------------------------------------------


def test_key_management_hook(cli_instance: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KENTCARD_ISSUER_PASSPHRASE")
    monkeypatch.setenv("KENTCARD_ISSUER_KEY_HOOK", "tests.cards.key_hook:key")
    first = ec.generate_private_key(ec.SECP256R1())
    monkeypatch.setattr(
        key_hook,
        "KEYS",
        {"certificate": first, "personalisation": ec.generate_private_key(ec.SECP256R1())},
    )
    run("issuer", "init")
    assert not list((cli_instance / "issuer").glob("*.pem"))  # nothing secret on disk
    issuer = issuer_store(cli_instance).load()
    assert issuer.certificate_key.private_numbers() == first.private_numbers()

    result = CliRunner().invoke(main, ["issuer", "rotate"])
    assert result.exit_code == 1 and "create the new key in the key manager" in result.output
    second = ec.generate_private_key(ec.SECP256R1())
    key_hook.KEYS["certificate"] = second
    with pytest.raises(IssuerLocked, match="run `kentcard issuer rotate` to record it"):
        issuer_store(cli_instance).load()
    run("issuer", "rotate")
    rotated = issuer_store(cli_instance).load()
    assert rotated.certificate_key.private_numbers() == second.private_numbers()
    assert len(rotated.keyring()) == 2

    monkeypatch.delenv("KENTCARD_ISSUER_KEY_HOOK")
    with pytest.raises(IssuerLocked, match="held by a key-management hook"):
        issuer_store(cli_instance).load()
    monkeypatch.setenv("KENTCARD_ISSUER_KEY_HOOK", "tests.cards.key_hook:key")
    del key_hook.KEYS["personalisation"]
    with pytest.raises(IssuerLocked, match="did not return the personalisation key"):
        issuer_store(cli_instance).load()


# -- the service: counter and tap API --------------------------------------------------------


@pytest.fixture
def rotated(app: Flask, settings: Settings, issuer: Issuer) -> Iterator[IssuerStore]:
    """The suite's issuer, rotated for one test and put back afterwards."""
    folder = settings.instance_path / "issuer"
    saved = settings.instance_path / "issuer-saved"
    shutil.copytree(folder, saved)
    try:
        yield issuer_store(settings.instance_path)
    finally:
        shutil.rmtree(folder)
        saved.rename(folder)
        for name in ("kentcard_card_issuer", "kentcard_issuer_keyring"):
            app.extensions.pop(name, None)


def test_old_cards_still_tap_after_rotation_and_new_ones_use_the_new_key(
    app: Flask,
    client: FlaskClient,
    reader,  # noqa: F811
    blank_card,
    resident_and_actor,
    rotated: IssuerStore,
    issuer: Issuer,
) -> None:
    resident_id, actor = resident_and_actor
    grant(app, resident_id, "library")
    old_card = blank_card()
    old = issue_one(app, actor, resident_id, old_card)
    assert old.issuer_key_id == issuer.certificate_key_id.hex()

    new_issuer = rotated.rotate(card_validity_days=FIVE_YEARS)
    headers = bearer(client, reader)
    answer = client.post("/api/v1/taps", json=tap_body(old_card, "library"), headers=headers)
    assert answer.get_json()["decision"] == "allow", answer.get_json()

    with app.app_context():
        issuance.report_card(actor, old.id, "lost")
    new_card_ = blank_card()
    replacement = issue_one(app, actor, resident_id, new_card_)
    assert replacement.issuer_key_id == new_issuer.certificate_key_id.hex()
    answer = client.post("/api/v1/taps", json=tap_body(new_card_, "library"), headers=headers)
    assert answer.get_json()["decision"] == "allow", answer.get_json()


def test_counter_refuses_to_sign_with_a_wrong_passphrase(
    app: Flask, blank_card, resident_and_actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    resident_id, actor = resident_and_actor
    monkeypatch.setenv("KENTCARD_ISSUER_PASSPHRASE", "not the instance passphrase")
    app.extensions.pop("kentcard_card_issuer", None)
    try:
        with pytest.raises(issuance.CardRefused, match=r"Cards cannot be signed: .*does not open"):
            issue_one(app, actor, resident_id, blank_card())
    finally:
        app.extensions.pop("kentcard_card_issuer", None)
