#!/usr/bin/env bash
# The whole suite: lint and types, then every test on SQLite and again on PostgreSQL.
# A missing PostgreSQL is a failure (set KENTCARD_SKIP_POSTGRES=1 to run SQLite alone
# on a laptop without one; CI never does).
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${VENV:-.venv}/bin
PG_URL=${KENTCARD_TEST_POSTGRES_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/postgres}
status=0

step() { echo; echo "=== $* ==="; }

step "ruff"
"$BIN/ruff" check . && "$BIN/ruff" format --check . || status=1
step "mypy"
"$BIN/mypy" || status=1

step "tests on SQLite"
env -u KENTCARD_TEST_DATABASE_URL "$BIN/python" -m pytest "$@" || status=1

if [ "${KENTCARD_SKIP_POSTGRES:-}" = 1 ] && [ "${CI:-}" != true ]; then
  echo "Skipping PostgreSQL (KENTCARD_SKIP_POSTGRES=1)."
else
  step "tests on PostgreSQL ($PG_URL)"
  if ! "$BIN/python" - "$PG_URL" <<'PY'
import sys
from sqlalchemy import create_engine, text
engine = create_engine(sys.argv[1])
with engine.connect() as conn:
    conn.execute(text("SELECT 1"))
PY
  then
    echo "error: PostgreSQL is not reachable at $PG_URL" >&2
    status=1
  else
    KENTCARD_TEST_DATABASE_URL="$PG_URL" "$BIN/python" -m pytest "$@" || status=1
  fi
fi

echo
if [ $status -eq 0 ]; then echo "make test: all checks passed"; else echo "make test: FAILED"; fi
exit $status
