"""The models and the migrations agree, on whichever database the suite runs against."""

from __future__ import annotations

import itertools
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

from entitlements.ledger.tables import LedgerBase
from idservice import migrate
from idservice.models import Base


def test_models_match_migrations(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(context, [Base.metadata, LedgerBase.metadata])
    finally:
        engine.dispose()
    assert diff == [], f"models and migrations differ: {diff}"


def test_head_file_names_the_newest_revision() -> None:
    head_file = Path(migrate.MIGRATIONS / "HEAD").read_text().strip()
    assert head_file == migrate.current_head()


def test_revision_ids_are_sequential() -> None:
    script = ScriptDirectory.from_config(migrate.alembic_config("sqlite://"))
    revisions = list(reversed(list(script.walk_revisions())))
    assert [r.revision for r in revisions] == [f"{i:04d}" for i in range(1, len(revisions) + 1)]
    for previous, current in itertools.pairwise(revisions):
        assert current.down_revision == previous.revision
