# Two commands: `make run` (the console) and `make test` (lint, migration check, tests).
# Without DATABASE_URL / REDIS_URL both start embedded PostgreSQL and Valkey under .local/.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: run test test-again lint browser-deps clean-local

$(INSTALLED): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

run: $(INSTALLED)
	$(PY) -m opsconsole.devservers run

test: $(INSTALLED) lint
	DEBUG=$${DEBUG:-true} $(PY) -m opsconsole.devservers exec -- sh -c '\
		$(PY) manage.py makemigrations --check --dry-run && \
		$(PY) -m pytest $(PYTEST_ARGS)'

# Local re-runs: the test database is copied from a migrated template (built once per migration state).
test-again:
	$(MAKE) test PYTEST_ARGS="--template-db -n auto $(PYTEST_ARGS)"

lint: $(INSTALLED)
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports

# Browser tests drive Debian's Chromium (Playwright cannot download browsers here).
browser-deps:
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium chromium-driver)

clean-local:
	rm -rf .local
