# `make run` starts the local stack; `make test` runs every check. Both set up what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY_STAMP := $(VENV)/.installed
# Node packages: the real Paragon SDK for the Node tests and the demo page, and playwright-core
# (which drives Debian's /usr/bin/chromium and downloads no browser) for the browser tests.
NODE_DIRS := tests/node tests/browser demo
NODE_STAMPS := $(addsuffix /node_modules/.installed,$(NODE_DIRS))

.PHONY: setup run test lint typecheck pytest bench mutate clean

setup: $(PY_STAMP) $(NODE_STAMPS)

$(PY_STAMP): requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

%/node_modules/.installed: %/package.json %/package-lock.json
	cd $* && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# `make run PORT=8080` serves the API on another port (the sandbox takes the next one).
PORT ?= 8000
run: setup
	$(BIN)/tether dev --port $(PORT)

lint: $(PY_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(PY_STAMP)
	$(BIN)/mypy

pytest: setup
	$(BIN)/pytest

test: lint typecheck pytest

bench: setup
	$(BIN)/python bench/proxy.py

# Mutation testing of the security-critical modules (slow: minutes per module; not part of `test`).
# `make mutate MODULES=proxy_paths` runs one; `MINUTES=20` stops each after 20 minutes (a later run
# resumes); `SURVIVORS=1` tries again only the unexplained survivors; tools/mutate.py --list shows all.
mutate: $(PY_STAMP)
	nice -n 10 $(BIN)/python tools/mutate.py $(MODULES) $(if $(MINUTES),--minutes $(MINUTES)) $(if $(SURVIVORS),--survivors)

clean:
	rm -rf $(VENV) $(addsuffix /node_modules,$(NODE_DIRS)) .mypy_cache .ruff_cache .pytest_cache .mutmut
