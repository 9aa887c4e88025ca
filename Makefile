# The two commands:  make run   (install, load demo data, serve on http://127.0.0.1:8000)
#                    make test  (install, lint, all tests on SQLite and on PostgreSQL + Redis + Celery)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
RUNTIME := $(VENV)/.choso-runtime
DEV := $(VENV)/.choso-dev
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install install-dev run test lint format messages clean

$(VENV)/bin/python:
	$(PYTHON) -c 'import sys; sys.exit("Python 3.11 or newer is needed" if sys.version_info < (3, 11) else 0)'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The app's own dependencies (for `make run`), and those plus the test tools (for `make test`).
# `choso match warm-up` compiles the matching solver's kernels once, so no round waits for it.
$(RUNTIME): pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e .
	$(BIN)/choso match warm-up
	touch $@

$(DEV): pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/choso match warm-up
	touch $@ $(RUNTIME)

install: $(RUNTIME)

install-dev: $(DEV)

# A sandbox unless told otherwise (CHOSO_SANDBOX=false make run): simulated transfers, test cards, the banner.
run: install
	CHOSO_SANDBOX=$${CHOSO_SANDBOX:-true} $(BIN)/choso demo
	CHOSO_SANDBOX=$${CHOSO_SANDBOX:-true} $(BIN)/choso serve --host $(HOST) --port $(PORT)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	BIN=$(BIN) scripts/run-tests

format: install-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Re-extract translatable strings after changing templates or messages; then update the .po files.
messages: install-dev
	$(BIN)/pybabel extract -F babel.cfg -k N_ -k gettext_ -k ngettext_:1,2 --no-location --sort-output \
		--project=choso -o web/translations/messages.pot choso market payments fees matching operations web
	$(BIN)/pybabel update -i web/translations/messages.pot -d web/translations -l vi \
		--no-fuzzy-matching --ignore-obsolete --ignore-pot-creation-date

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
