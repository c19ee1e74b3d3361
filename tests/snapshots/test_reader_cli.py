"""``kentcard reader snapshot load|status``: a reader keeps signed lists and says why not."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from idservice.cli import main
from tests.cardio.offline_lists import LIBRARY, ListSigner, body, grant, hotlist

A, B = b"\x11" * 8, b"\x22" * 8


@pytest.fixture
def reader_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "reader"
    folder.mkdir()
    return folder


def test_load_keeps_good_lists_and_refuses_the_rest(reader_folder: Path, tmp_path: Path) -> None:
    signer = ListSigner("library", services=LIBRARY)
    (reader_folder / "issuer-keys.json").write_text(json.dumps(signer.public_export()))
    now = datetime.now(UTC).replace(microsecond=0)
    v1, v2 = body(grant(A, 0)), body(grant(A, 0), hotlist(B, "lost"))
    files = {
        "full": signer.full(1, v1, created_at=now),
        "delta": signer.delta(1, 2, v1, v2, created_at=now),
        "forged": ListSigner("library", services=LIBRARY).full(3, v2, created_at=now),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    args = ["reader", "snapshot", "load", "--mode", "library", "--config", str(reader_folder)]
    runner = CliRunner()
    loaded = runner.invoke(main, [*args, str(tmp_path / "full"), str(tmp_path / "delta")])
    assert loaded.exit_code == 0, loaded.output
    assert "delta 1 -> 2: 0 removed, 1 records" in loaded.output
    refused = runner.invoke(main, [*args, str(tmp_path / "forged"), str(tmp_path / "full")])
    assert refused.exit_code == 1
    assert "refused (unknown_key)" in refused.output
    assert "refused (older_version)" in refused.output
    assert "Holding the library offline list version 2" in refused.output
    status = runner.invoke(
        main, ["reader", "snapshot", "status", "--mode", "library", "--config", str(reader_folder)]
    )
    assert status.exit_code == 0 and "version 2" in status.output and "fresh" in status.output


def test_status_says_when_the_list_is_too_old(reader_folder: Path, tmp_path: Path) -> None:
    signer = ListSigner()
    (reader_folder / "issuer-keys.json").write_text(json.dumps(signer.public_export()))
    old = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=80)
    (tmp_path / "old").write_bytes(signer.full(1, body(grant(A, 0)), created_at=old))
    runner = CliRunner()
    where = ["--mode", "transport", "--config", str(reader_folder)]
    assert (
        runner.invoke(main, ["reader", "snapshot", "load", str(tmp_path / "old"), *where]).exit_code
        == 0
    )
    status = runner.invoke(main, ["reader", "snapshot", "status", *where])
    assert "limit 72 h: offline list too old" in status.output
    empty = runner.invoke(
        main, ["reader", "snapshot", "status", "--mode", "library", "--config", str(reader_folder)]
    )
    assert empty.exit_code == 1 and "No library offline list held" in empty.output
