"""The import contracts in pyproject.toml hold, and a forbidden import breaks them.

``lint-imports`` runs in ``make test`` and ``make lint``. Here it runs on a copy of the
packages in a temporary folder: once as they are (every contract kept), then with one
forbidden import added to the copy (the run fails and names the broken contract). The
repository itself is never changed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("idservice", "cardio", "entitlements", "hardware")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
VIEWS_CONTRACT = "views do not import the database session (idservice.db)"
ROUTE = re.compile(r"^@\w+\.(route|get|post|put|patch|delete)\(", re.MULTILINE)


def _python_only(folder: str, names: list[str]) -> set[str]:
    """Copy packages and Python modules only (no templates, static files or caches)."""
    return {
        name
        for name in names
        if name == "__pycache__" or (not name.endswith(".py") and not Path(folder, name).is_dir())
    }


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=_python_only)
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    # The copy comes first on the path, ahead of the installed (editable) packages.
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tree,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def add_import(module: Path, statement: str) -> None:
    """Add ``statement`` after the module's ``from __future__`` line (or at the top)."""
    lines = module.read_text().splitlines(keepends=True)
    at = next((i + 1 for i, line in enumerate(lines) if line.startswith("from __future__")), 0)
    lines.insert(at, statement + "\n")
    module.write_text("".join(lines))


def test_the_contracts_hold_on_the_code_as_it_is(tree: Path) -> None:
    result = lint_imports(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "KEPT" in result.stdout and "BROKEN" not in result.stdout


@pytest.mark.parametrize(
    ("module", "statement", "contract"),
    [
        (
            "cardio/tlv.py",
            "import flask  # noqa",
            "cardio imports neither Flask nor SQLAlchemy nor idservice",
        ),
        (
            "cardio/verify.py",
            "from idservice import db  # noqa",
            "cardio imports neither Flask nor SQLAlchemy nor idservice",
        ),
        (
            "idservice/cards/decisions.py",
            "import smartcard  # noqa",
            "only cardio.pcsc imports pyscard",
        ),
        (
            "entitlements/engine.py",
            "import flask  # noqa",
            "entitlements imports neither Flask nor idservice",
        ),
        (
            "idservice/services/accounts.py",
            "import hardware.vpcd  # noqa",
            "nothing in idservice, cardio or entitlements imports hardware (the test rig)",
        ),
        (
            "idservice/web/accounts.py",
            "from idservice.db import db_session  # noqa",
            VIEWS_CONTRACT,
        ),
        (
            "idservice/services/your_data.py",
            "from sqlalchemy import select  # noqa",
            "services with a data-access module do not import SQLAlchemy",
        ),
        (
            "idservice/cli/staff.py",
            "from idservice.db import db_session  # noqa",
            "the command line does not import the database session (idservice.db)",
        ),
    ],
)
def test_a_forbidden_import_breaks_its_contract(
    tree: Path, module: str, statement: str, contract: str
) -> None:
    add_import(tree / module, statement)
    result = lint_imports(tree)
    assert result.returncode != 0, result.stdout
    assert f"{contract} BROKEN" in result.stdout
    assert "1 broken" in result.stdout


def test_the_views_contract_lists_every_module_that_declares_routes() -> None:
    """A new module of views is covered as soon as it is written, or this fails."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contract = next(
        c for c in config["tool"]["importlinter"]["contracts"] if c["name"] == VIEWS_CONTRACT
    )
    with_routes = {
        ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for path in (ROOT / "idservice").rglob("*.py")
        if ROUTE.search(path.read_text())
    }
    assert with_routes, "no view modules found: the pattern is out of date"
    assert with_routes == set(contract["source_modules"])
