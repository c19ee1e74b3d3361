#!/usr/bin/env bash
# The whole suite: lint, types and the import contracts (lint-imports), then every test on
# SQLite and again on PostgreSQL.
# A missing PostgreSQL is a failure (set KENTCARD_SKIP_POSTGRES=1 to run SQLite alone
# on a laptop without one; CI never does).
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${VENV:-.venv}/bin
PG_URL=${KENTCARD_TEST_POSTGRES_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/postgres}
# One pytest worker per core (each gets its own database and live server).
WORKERS=${KENTCARD_TEST_WORKERS:-$(nproc)}
status=0
REPORTS=$(mktemp -d)
trap 'rm -rf "$REPORTS"' EXIT

step() { echo; echo "=== $* ==="; }

step "ruff"
"$BIN/ruff" check . && "$BIN/ruff" format --check . || status=1
step "mypy"
"$BIN/mypy" || status=1
step "import contracts (lint-imports)"
"$BIN/lint-imports" --no-cache || status=1

step "tests on SQLite"
env -u KENTCARD_TEST_DATABASE_URL "$BIN/python" -m pytest -n "$WORKERS" --junitxml="$REPORTS/sqlite.xml" "$@" || status=1

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
    # The browser suite (every page in Chromium: axe, keyboard, 320 px, no JavaScript)
    # runs once, in the SQLite pass: it tests what pages look like and how they are used,
    # which does not change with the database, and it is two thirds of a pass's time.
    # What the pages do with the database runs here too, through the Flask test client
    # (tests/accounts, tests/staff, tests/oauth, ...), as do the interop tests.
    KENTCARD_TEST_DATABASE_URL="$PG_URL" "$BIN/python" -m pytest -n "$WORKERS" \
      --ignore=tests/browser --junitxml="$REPORTS/postgresql.xml" "$@" || status=1
  fi
fi

echo
# One closing line over both passes, in the plain form CI reads.
"$BIN/python" - "$REPORTS"/*.xml <<'PY' || status=1
import sys
import xml.etree.ElementTree as ET
passed = failed = skipped = 0
for path in sys.argv[1:]:
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        failed += 1
        continue
    for suite in root.iter("testsuite"):
        total, fail = int(suite.get("tests", 0)), int(suite.get("failures", 0))
        err, skip = int(suite.get("errors", 0)), int(suite.get("skipped", 0))
        failed += fail + err
        skipped += skip
        passed += total - fail - err - skip
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed or not passed else 0)
PY
if [ $status -eq 0 ]; then echo "make test: all checks passed"; else echo "make test: FAILED"; fi
exit $status
