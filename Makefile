# The two commands a newcomer needs: `make run` and `make test`. See README.md.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.lock requirements-test.lock pyproject.toml fakes/pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test check lint typecheck services lock clean bench

$(STAMP):
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements-test.lock
	$(BIN)/python -m pip install -q --no-deps -e . -e fakes
	rm -f $(VENV)/.installed-*
	touch $@

## run: start `sika serve --demo` on embedded SQLite at http://127.0.0.1:8000
run: $(STAMP)
	$(BIN)/sika serve --demo

## services: install the PostgreSQL and Redis servers from the system packages when missing
services:
	scripts/install-services.sh

# compileall first: where PYTHONDONTWRITEBYTECODE is set (as on CI), every `sika` the end-to-end tests
# start would otherwise compile all of src again, a third of a second each time.
## test: the whole suite, PostgreSQL and Redis tests included
test: $(STAMP) services
	$(BIN)/python -m compileall -q src fakes/src
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests fakes

typecheck: $(STAMP)
	$(BIN)/mypy

## check: ruff + mypy strict + tests
check: lint typecheck test

## bench: the ledger benchmark matrix (see docs/benchmarks.md)
bench: $(STAMP) services
	$(BIN)/sika bench ledger --matrix

## lock: re-resolve the pinned dependency sets after editing pyproject.toml
lock: $(STAMP)
	$(BIN)/python -m pip install -q uv
	$(BIN)/uv pip compile -q pyproject.toml -o requirements.lock
	$(BIN)/uv pip compile -q pyproject.toml --extra test -o requirements-test.lock

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis sika.db sika.db-wal sika.db-shm
