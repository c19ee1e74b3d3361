"""Measuring code before and after a change: which checkout serves, in what order, the ratios."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from benchmarks import serving

REPO = Path(__file__).resolve().parents[2]


def token_benchmark() -> ModuleType:
    path = REPO / "benchmarks" / "token_endpoint" / "run.py"
    spec = importlib.util.spec_from_file_location("token_endpoint_run", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def a_checkout(root: Path, migrations: list[str], programs: tuple[str, ...]) -> Path:
    (root / "migrations" / "versions").mkdir(parents=True)
    for name in migrations:
        (root / "migrations" / "versions" / name).write_text("")
    (root / ".venv" / "bin").mkdir(parents=True)
    for name in programs:
        (root / ".venv" / "bin" / name).write_text("")
    return root


def test_another_checkout_serves_with_its_own_virtualenv(tmp_path: Path) -> None:
    assert serving.checkout(None, "granian") == serving.Checkout(REPO, serving.BIN)
    ours = sorted(serving.migrations(REPO))
    root = a_checkout(tmp_path / "before", ours[:-1], ("granian", "kentcard"))
    found = serving.checkout(root, "granian")
    assert found == serving.Checkout(root, root / ".venv" / "bin")
    assert found.label == str(root)
    command = serving.server_command("granian", 8000, 2, 4, found.bin)
    assert command[0] == str(root / ".venv" / "bin" / "granian")


def test_a_checkout_that_cannot_serve_is_refused_before_anything_starts(tmp_path: Path) -> None:
    ours = sorted(serving.migrations(REPO))
    bare = a_checkout(tmp_path / "bare", ours, ("granian",))
    with pytest.raises(SystemExit, match="kentcard; run `make setup` there"):
        serving.checkout(bare, "granian")
    with pytest.raises(SystemExit, match="gunicorn"):
        serving.checkout(bare, "gunicorn")
    newer = a_checkout(tmp_path / "newer", [*ours, "9999_later.py"], ("granian", "kentcard"))
    with pytest.raises(SystemExit, match=r"9999_later\.py"):
        serving.checkout(newer, "granian")


def test_the_server_of_a_checkout_runs_in_it(tmp_path: Path, monkeypatch: Any) -> None:
    started: dict[str, Any] = {}

    def popen(command: list[str], **options: Any) -> SimpleNamespace:
        started.update(options, command=command)
        return SimpleNamespace(pid=0)

    monkeypatch.setattr(subprocess, "Popen", popen)
    monkeypatch.setattr(serving, "server_version", lambda server, bin_dir: "1.0")
    code = serving.Checkout(tmp_path, tmp_path / ".venv" / "bin")
    _, words = serving.start_server({}, 8000, 2, 4, tmp_path / "log", "granian", code)
    assert started["cwd"] == tmp_path
    assert started["command"][0] == str(tmp_path / ".venv" / "bin" / "granian")
    assert words.endswith(f"(granian 1.0, code and .venv of {tmp_path})")


def test_which_server_goes_first_alternates() -> None:
    after, before = (SimpleNamespace(name=name) for name in ("after", "before"))
    servers: list[Any] = [after, before]
    orders = [[s.name for s in serving.interleaved(servers, n)] for n in (1, 2, 3, 4)]
    assert orders == [["after", "before"], ["before", "after"]] * 2


def test_the_token_benchmark_keeps_before_and_after_side_by_side() -> None:
    round_order = token_benchmark().round_order
    contenders: list[Any] = [
        SimpleNamespace(name=name, kind=name.split("-")[0])
        for name in ("ours-a", "before-a", "peer")
    ]
    orders = [[c.name for c in round_order(contenders, i)] for i in range(3)]
    assert orders == [
        ["ours-a", "before-a", "peer"],
        ["peer", "before-a", "ours-a"],
        ["ours-a", "before-a", "peer"],
    ]
    alone: list[Any] = [SimpleNamespace(name=n, kind=n) for n in ("ours", "peer")]
    assert [c.name for c in round_order(alone, 1)] == ["peer", "ours"]


def test_ratios_are_after_over_before() -> None:
    lines = serving.ratio_lines("median", [("taps/s", 1000.0, 1250.0), ("p99 ms", 0.0, 3.0)])
    assert lines[0].split() == ["median", "before", "after", "after/before"]
    assert lines[1].split() == ["taps/s", "1000.0", "1250.0", "1.25"]
    assert lines[2].split() == ["p99", "ms", "0.00", "3.00", "-"]
