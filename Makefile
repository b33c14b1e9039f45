# The two commands of the README: `make run` and `make test`. Both set everything up first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python

.PHONY: run test setup lint lock clean

# The browser tests drive Debian's Chromium through Playwright; nothing is downloaded by Playwright.
CHROMIUM := /usr/bin/chromium

setup: $(VENV)/.installed node_modules/.installed

# requirements-dev.txt pins everything with hashes, so pip installs exactly the locked files.
$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

## lock: pin the *.in files into the *.txt locks, with hashes (UPGRADE=1: newest versions too)
# Resolved for the deployed runtime: Python 3.11 (infra/app/function-app.bicep pythonVersion)
# on Linux. Existing pins are kept unless UPGRADE=1; the dev and bench locks keep the runtime
# and dev pins through their -c lines. tests/unit/test_dependencies.py fails on a stale lock.
LOCK := $(VENV)/bin/uv pip compile --quiet --generate-hashes --python-version 3.11 \
	--python-platform linux --custom-compile-command "make lock" $(if $(UPGRADE),--upgrade)
lock: $(VENV)/.installed
	$(LOCK) requirements.in -o requirements.txt
	$(LOCK) requirements-dev.in -o requirements-dev.txt
	$(LOCK) bench/requirements.in -o bench/requirements.txt
	$(LOCK) requirements-tools.in -o requirements-tools.txt

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
# One pytest worker per core (pytest-xdist), a test file on one worker: each worker starts its own
# Azurite and product stack on free ports, so the tiers overlap instead of waiting on each other.
test: setup $(CHROMIUM)
	$(PY) -m pytest -n auto --dist loadfile
	$(MAKE) --no-print-directory lint
	bash infra/check.sh

lint: setup
	$(PY) -m ruff check .
	$(PY) -m mypy .

clean:
	rm -rf .devdata .pytest_cache .mypy_cache .ruff_cache
