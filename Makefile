# The two commands of the README: `make run` and `make test`. Both set everything up first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python

.PHONY: run test setup lint clean

# The browser tests drive Debian's Chromium through Playwright; nothing is downloaded by Playwright.
CHROMIUM := /usr/bin/chromium

setup: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

# Root on a fresh machine (CI); the package lists may be empty there, hence the update on a miss.
$(CHROMIUM):
	DEBIAN_FRONTEND=noninteractive apt-get install -y chromium \
	  || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium)

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

## run: Azurite + Messenger simulator + devhost, until Ctrl-C
run: setup
	$(PY) -m devhost.stack

## test: the whole suite (unit, integration, e2e, browser), then lint, types and the infra checks
test: setup $(CHROMIUM)
	$(PY) -m pytest
	$(MAKE) --no-print-directory lint
	bash infra/check.sh

lint: setup
	$(PY) -m ruff check .
	$(PY) -m mypy .

clean:
	rm -rf .devdata .pytest_cache .mypy_cache .ruff_cache
