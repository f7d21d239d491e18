# sidecar-enforcer — `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Prefer the Lambda runtime's Python (3.13, from pyenv when present); fall back to python3 (3.11+).
PY313 := $(shell command -v pyenv >/dev/null 2>&1 && echo "$$(pyenv root)/versions/3.13.0/bin/python3.13")
PYTHON ?= $(shell if [ -x "$(PY313)" ]; then echo "$(PY313)"; elif command -v python3.13 >/dev/null 2>&1; then echo python3.13; else echo python3; fi)

# sam build (BuildMethod python3.13) runs the python3.13 it finds on PATH: the one above, by path.
PY313_PATH := $(shell if [ -x "$(PY313)" ]; then echo "$(PY313)"; else command -v python3.13 2>/dev/null; fi)

VENV := .venv
SAM_VENV := .venv-sam
CHECKOV_VENV := .venv-checkov
C7N_VENV := .venv-c7n
BIN := $(VENV)/bin
DEV_STAMP := $(VENV)/.installed
SAM_STAMP := $(SAM_VENV)/.installed
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
C7N_STAMP := $(C7N_VENV)/.installed
# --no-compile: pip would compile every module of every package (checkov's, moto's, the SAM CLI's:
# tens of thousands); Python compiles the few a run imports, once, into the venv.
PIP_FLAGS := --quiet --disable-pip-version-check --no-compile

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk -F':.*?## ' '{printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'

$(DEV_STAMP): pyproject.toml layers/common/requirements.txt requirements-dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing the project venv ($$($(BIN)/python --version))"
	$(BIN)/pip install $(PIP_FLAGS) -r requirements-dev.txt -e .
	@touch $@

$(SAM_STAMP): requirements-sam.txt
	@test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	@echo "installing the SAM CLI venv"
	$(SAM_VENV)/bin/pip install $(PIP_FLAGS) -r requirements-sam.txt
	@touch $@

$(CHECKOV_STAMP): requirements-checkov.txt
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	@echo "installing the checkov venv"
	$(CHECKOV_VENV)/bin/pip install $(PIP_FLAGS) -r requirements-checkov.txt
	@touch $@

$(C7N_STAMP): requirements-c7n.txt
	@test -x $(C7N_VENV)/bin/python || $(PYTHON) -m venv $(C7N_VENV)
	@echo "installing the Cloud Custodian venv (the backfill bench's comparison)"
	$(C7N_VENV)/bin/pip install $(PIP_FLAGS) -r requirements-c7n.txt
	@touch $@

dev: $(DEV_STAMP) ## Create .venv with the package (editable), the CLI and the test tools

sam-venv: $(SAM_STAMP) ## Create .venv-sam with the SAM CLI and cfn-lint

lint: $(DEV_STAMP) ## ruff (lint + format check), mypy and the import contracts (pyproject.toml)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# checkov offline: no download of its guidelines or of platform mappings. Every finding is either
# fixed or skipped on its resource with the reason (Metadata: checkov: skip).
CHECKOV := BC_SKIP_MAPPING=TRUE $(CHECKOV_VENV)/bin/checkov --framework cloudformation --quiet --compact --skip-download

template-check: $(SAM_STAMP) $(CHECKOV_STAMP) ## sam validate --lint, cfn-lint and checkov on template.yaml and member.yaml
	SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=us-east-1 $(SAM_VENV)/bin/sam validate --lint --template template.yaml
	$(SAM_VENV)/bin/cfn-lint template.yaml member.yaml
	$(CHECKOV) -f template.yaml -f member.yaml

# Two processes: CI has 2 cores. worksteal: an idle process takes tests queued for the other (with
# the default "load", one process was left with the slow tail: 456 s instead of 262 s here).
# PYTEST_WORKERS=0 runs them in one.
PYTEST_WORKERS ?= 2
unit: $(DEV_STAMP) ## pytest (unit + integration), on PYTEST_WORKERS processes (default 2)
	$(BIN)/pytest $(if $(filter 0,$(PYTEST_WORKERS)),,-n $(PYTEST_WORKERS) --dist worksteal)

# The three venvs are independent: created side by side (downloads and installs overlap), then the
# checks in order.
test: ## All checks: lint, types, template, tests
	@$(MAKE) --no-print-directory -j3 $(DEV_STAMP) $(SAM_STAMP) $(CHECKOV_STAMP)
	@$(MAKE) --no-print-directory lint template-check unit

demo: $(DEV_STAMP) ## The main job on an embedded local AWS (moto server on 127.0.0.1)
	$(BIN)/sidecar-enforcer demo

BENCH_JSON ?=
BENCH_BACKFILL ?= full
bench: $(DEV_STAMP) $(C7N_STAMP) ## Calls per event kind, import times, backfill vs Cloud Custodian; BENCH_JSON=FILE BENCH_BACKFILL=full|quick|small|none
	$(BIN)/python -m bench --backfill $(BENCH_BACKFILL) --c7n $(C7N_VENV)/bin/custodian $(if $(BENCH_JSON),--json $(BENCH_JSON))

CORPUS ?= ../shared/corpus/taskdefs
corpus-report: $(DEV_STAMP) ## Plan every corpus task definition for every profile (examples/policy.json); a table
	@if [ -d "$(CORPUS)" ]; then $(BIN)/sidecar-enforcer report $(CORPUS) --policy examples/policy.json; \
	else echo "corpus-report: $(CORPUS) not found (it ships beside the repository in CI); set CORPUS=DIR"; fi

CORPUS_EVENTS ?= ../shared/corpus/events
noise-share: $(DEV_STAMP) ## The share of the corpus's CloudTrail records that cannot change compliance (desiredCount-only UpdateService)
	$(BIN)/python -m sidecar_enforcer_dev.noise $(CORPUS_EVENTS)

format: $(DEV_STAMP) ## Rewrite the code with ruff's formatter and fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

build: $(SAM_STAMP) ## sam build (needs python3.13: pyenv's 3.13.0 or python3.13 on PATH)
	@if [ -z "$(PY313_PATH)" ]; then \
		echo "build: no python3.13 found. sam build builds the layer with the Lambda runtime's Python" >&2; \
		echo "       (BuildMethod python3.13): install it (e.g. 'pyenv install 3.13.0') or put python3.13 on PATH." >&2; \
		exit 1; fi
	PATH="$(dir $(PY313_PATH)):$$PATH" SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam build
	@# The layer's bytecode: sam build ships none, and Lambda's /opt is read-only, so without it every
	@# cold start compiles each module it imports (make bench, "Cold start from the layer": about 3x).
	@# unchecked-hash: a zip keeps file times at 2 s precision, which can make timestamped .pyc stale.
	$(PY313_PATH) -m compileall -q -j 0 --invalidation-mode unchecked-hash .aws-sam/build/CommonLayer/python

ENV ?= dev
GUIDED ?=
deploy: build ## sam deploy of samconfig.toml's ENV (dev|prod, default dev); GUIDED=1 asks (needs AWS credentials)
	SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam deploy --config-env $(ENV) $(if $(GUIDED),--guided)

clean: ## Remove the venvs and build output
	rm -rf $(VENV) $(SAM_VENV) $(CHECKOV_VENV) $(C7N_VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache .import_linter_cache

.PHONY: help dev sam-venv lint template-check unit test demo bench corpus-report noise-share format build deploy clean
