# The README's two commands: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CATALOGS := app/translations

.PHONY: install run test test-sqlite test-postgres lint messages compile-messages bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) compile-messages

run: install
	$(BIN)/python -m app serve

test: install
	$(BIN)/python -m pytest

test-sqlite: install
	$(BIN)/python -m pytest -m "not postgres"

lint: install
	$(BIN)/ruff check app needs donations recognition tests benchmarks

# Extract every message from the code and templates, and merge it into the vi and en catalogs.
messages: install
	$(BIN)/pybabel extract -F babel.cfg -k lazy -k _ -k gettext -k ngettext:1,2 -o $(CATALOGS)/messages.pot --no-location --sort-output --ignore-dirs ".* __pycache__ var node_modules" .
	$(BIN)/pybabel update -i $(CATALOGS)/messages.pot -d $(CATALOGS) --no-fuzzy-matching --ignore-obsolete

compile-messages: $(STAMP)
	$(BIN)/pybabel compile -d $(CATALOGS) --statistics 2>&1 | tail -n 2

clean:
	rm -rf $(VENV) var .pytest_cache
