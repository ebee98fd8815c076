# Lockstep — the two commands that matter: `make run` and `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
export DJANGO_SETTINGS_MODULE := lockstep.settings

.PHONY: run install demo test test-postgres lint format clean bench bench-smoke bench-planet bench-pages

$(BIN)/lockstep: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	@touch $@

install: $(BIN)/lockstep

## make run: set up, migrate, load the demo organisation into SQLite and serve it
run: install
	$(BIN)/lockstep demo --if-empty
	$(BIN)/lockstep serve --host $(HOST) --port $(PORT)

demo: install
	$(BIN)/lockstep demo --reset

## make test: the whole suite (browser tests run when Chromium is installed)
test: install
	$(BIN)/pytest -q

test-postgres: install
	# The connection pool is on, as `lockstep serve` runs; Django closes it before it drops
	# the test database.
	LOCKSTEP_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test $(BIN)/pytest -q

## make bench: the scale benchmark, SQLite and PostgreSQL at 1k, 35k and 350k KRs (< 15 min)
bench: install
	$(BIN)/python bench/run.py

## make bench-smoke: the same code on the small profile with short runs (CI)
bench-smoke: install
	$(BIN)/python bench/run.py --smoke

## make bench-planet: the full analysis of a 1,000,000-KR organisation on SQLite
bench-planet: install
	$(BIN)/python bench/run.py --sizes planet --databases sqlite --runs 1 --checkins 50 --no-load --import-rows 0

## make bench-pages: server time and SQL statements of every page on the demo, both databases
bench-pages: install
	$(BIN)/python bench/pages.py
	$(BIN)/python bench/pages.py --postgres

lint: install
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy

format: install
	$(BIN)/ruff format src tests
	$(BIN)/ruff check --fix src tests

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
