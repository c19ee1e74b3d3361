# Two commands: `make run` and `make test`. Everything else is what they call.
VENV ?= .venv
PYTHON ?= python3.11
BIN := $(VENV)/bin
STAMP := $(VENV)/.kentcard-installed

.PHONY: run test setup test-deps lint clean bench-token bench-webhooks

run: setup
	$(BIN)/kentcard db upgrade
	$(BIN)/kentcard demo
	$(BIN)/kentcard serve --host 127.0.0.1 --port 5000

test: setup test-deps
	bash scripts/test.sh

setup: $(STAMP)

$(STAMP): pyproject.toml scripts/bootstrap.sh
	PYTHON=$(PYTHON) VENV=$(VENV) bash scripts/bootstrap.sh
	touch $(STAMP)

test-deps:
	bash scripts/test-deps.sh

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

bench-token: setup
	$(BIN)/python benchmarks/token_endpoint/run.py

bench-webhooks: setup
	$(BIN)/python benchmarks/webhook_delivery/run.py

clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache

.PHONY: bench-taps bench-deps
bench-deps:
	bash scripts/bench-deps.sh

bench-taps: setup bench-deps
	$(BIN)/python benchmarks/online_taps/run.py

.PHONY: bench-checks
bench-checks: setup bench-deps
	$(BIN)/python benchmarks/partner_checks/run.py

.PHONY: bench-sweep
bench-sweep: setup
	$(BIN)/python benchmarks/sweep/run.py

# On a copy of the population bench-sweep builds, when it has been built.
.PHONY: bench-reevaluation
bench-reevaluation: setup
	$(BIN)/python benchmarks/reevaluation/run.py

# Offline lists on the Kent-scale database (read-only; the delta in a database of its own).
.PHONY: bench-snapshots
bench-snapshots: setup
	$(BIN)/python benchmarks/snapshots/run.py

# On a copy of the Kent-scale database (made once from it with CREATE DATABASE ... TEMPLATE).
.PHONY: bench-sip2
bench-sip2: setup
	$(BIN)/python benchmarks/sip2/run.py

# Issue 13: 100,000 queued offline taps uploaded by `kentcard reader sync`, on a copy of
# the Kent-scale database (`make bench-taps` builds it).
.PHONY: bench-upload
bench-upload: setup
	$(BIN)/python benchmarks/tap_upload/run.py
