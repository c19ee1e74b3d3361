"""A database error's text never repeats the values of the statement that failed: they
are often a resident's personal data, and the text ends up in tracebacks and logs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from idservice.db import LeanConnection, LeanDatabase, LeanStatement, make_engine
from idservice.models.base import utcnow
from idservice.models.residents import SignInFailure

SECRET = "Wilhelmina Quarrington"
ADD_FAILURE = insert(SignInFailure.__table__)  # type: ignore[arg-type]


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    made = make_engine(database_url)
    yield made
    with made.begin() as conn:
        conn.execute(SignInFailure.__table__.delete())  # type: ignore[attr-defined]
    made.dispose()


def _row() -> dict[str, object]:
    return {"id": 424242, "account_key": SECRET, "created_at": utcnow()}


def test_the_engines_errors_hide_the_statements_values(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(ADD_FAILURE, _row())
    with pytest.raises(IntegrityError) as failed, engine.begin() as conn:
        conn.execute(ADD_FAILURE, _row())
    assert SECRET not in str(failed.value)
    assert "parameters hidden" in str(failed.value)


def test_the_lean_paths_errors_hide_the_statements_values(engine: Engine) -> None:
    database = LeanDatabase(engine)
    statement = LeanStatement(ADD_FAILURE)
    with LeanConnection(database) as connection:
        connection.run(statement, _row())
        connection.commit()
    with pytest.raises(IntegrityError) as failed, LeanConnection(database) as connection:
        connection.run(statement, _row())
    assert SECRET not in str(failed.value)
