# Omnishop — the two commands: `make demo` and `make test`. Everything they need is installed from here.
SHELL := /bin/bash
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml requirements/lock.txt | sha1sum | cut -c1-12)
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install demo serve test test-sqlite test-postgres test-deep bench mutate lint format clean

$(STAMP): pyproject.toml requirements/lock.txt
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade "pip>=24"
	@$(BIN)/python -m pip install -q --disable-pip-version-check -c requirements/lock.txt -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

## make demo: install, migrate the embedded SQLite database under var/, load the demo, serve on 127.0.0.1:8000
demo: install
	@$(BIN)/omnishop demo --host $(HOST) --port $(PORT)

## make test: the whole suite on SQLite and on a real PostgreSQL 15 (both started here), then both pass counts
test: install
	@bash scripts/run-tests

test-sqlite: install
	@bash scripts/run-tests sqlite

test-postgres: install
	@bash scripts/run-tests postgres

## make test-deep: the suite with the Hypothesis searches ten times deeper (OMNISHOP_HYPOTHESIS_PROFILE=deep)
test-deep: install
	@OMNISHOP_HYPOTHESIS_PROFILE=deep bash scripts/run-tests $(WHICH)

## make mutate: mutation testing of the money, order-state and stock modules; ARGS="--commit" keeps the report
mutate: install
	@bash scripts/mutate $(ARGS)

## make bench: benchmarks on a throwaway PostgreSQL, JSON under bench/results/
bench: install
	@bash scripts/run-bench $(ONLY)

lint: install
	@$(BIN)/ruff check . && $(BIN)/ruff format --check . && PYTHONPATH=src $(BIN)/lint-imports --no-cache pyproject.toml \
		&& DEBUG=1 $(BIN)/mypy

format: install
	@$(BIN)/ruff format . && $(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) var bench/results
