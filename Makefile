# `make run` starts the local stack; `make test` runs every check. Both set up what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY_STAMP := $(VENV)/.installed
# Node packages: the real Paragon SDK for the Node tests and the demo page, and playwright-core
# (which drives Debian's /usr/bin/chromium and downloads no browser) for the browser tests.
NODE_DIRS := tests/node tests/browser demo
NODE_STAMPS := $(addsuffix /node_modules/.installed,$(NODE_DIRS))

.PHONY: setup run test lint typecheck pytest bench mutate clean deploy destroy template

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

# Deploy a stage to the AWS account and region boto3 is configured for (see docs/deploy.md):
# `make deploy STAGE=prod [REGION=eu-west-1] [ARGS="--domain api.example.com --certificate-arn ..."]`.
deploy: $(PY_STAMP)
	$(if $(STAGE),,$(error Give the stage: make deploy STAGE=prod))
	$(BIN)/tether deploy --stage $(STAGE) $(if $(REGION),--region $(REGION)) $(ARGS)

destroy: $(PY_STAMP)
	$(if $(STAGE),,$(error Give the stage: make destroy STAGE=prod))
	$(BIN)/tether destroy --stage $(STAGE) $(if $(REGION),--region $(REGION)) $(ARGS)

# The deploy template as `tether deploy` builds it (chalice package fetches Lambda's wheels),
# checked by cfn-lint: `make template STAGE=prod` writes out/template-<stage>.json.
template: $(PY_STAMP)
	$(if $(STAGE),,$(error Give the stage: make template STAGE=prod))
	mkdir -p out
	$(BIN)/tether cloudformation --stage $(STAGE) $(ARGS) > out/template-$(STAGE).json
	$(BIN)/cfn-lint out/template-$(STAGE).json

bench: setup
	$(BIN)/python bench/proxy.py

# Mutation testing of the security-critical modules (slow: minutes per module; not part of `test`).
# `make mutate MODULES=proxy_paths` runs one; `MINUTES=20` stops each after 20 minutes (a later run
# resumes); `SURVIVORS=1` tries again only the unexplained survivors; tools/mutate.py --list shows all.
mutate: $(PY_STAMP)
	nice -n 19 $(BIN)/python tools/mutate.py $(MODULES) $(if $(MINUTES),--minutes $(MINUTES)) $(if $(SURVIVORS),--survivors)

clean:
	rm -rf $(VENV) $(addsuffix /node_modules,$(NODE_DIRS)) .mypy_cache .ruff_cache .pytest_cache .mutmut
