# `make test` and `make run` do all the set-up on a fresh machine (Python 3.11+ required).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: test run lint format clean

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: lint
	bash scripts/check_terraform.sh
	@if command -v node >/dev/null; then \
		if command -v npm >/dev/null && [ ! tests/gtm/node_modules/.package-lock.json -nt tests/gtm/package-lock.json ]; then \
			npm ci --prefix tests/gtm --silent --no-audit --no-fund || exit 1; fi; \
		node --test --test-reporter=dot tests/gtm/*.test.mjs; \
	else echo "GTM template tests skipped: Node.js is not installed"; fi
	$(PY) -m pytest

run: $(STAMP)
	$(PY) -m dev.run

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) .venv-checkov .pytest_cache .ruff_cache .hypothesis
