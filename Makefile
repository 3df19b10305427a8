# Entry points (see README): `make run` builds everything on the embedded default (PROFILE=...: another), `make test`
# runs the test suite, `make ui` starts the Dagster UI. Each sets up the virtual environment
# first, once.
SHELL := /bin/bash
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
MAVP_HOME ?= $(CURDIR)/.mavp
export MAVP_HOME
# Which profile runs: sample (the embedded default), paper, or the path of your own profile file
# (pipeline/config/profiles/*.yaml): `make run PROFILE=paper`.
PROFILE ?= sample
export MAVP_PROFILE := $(PROFILE)
# Dagster finds its instance settings in ./dagster.yaml (storage under $MAVP_HOME/dagster) and
# the code location through pyproject's [tool.dg]. `dagster asset materialize` and `dagster job
# execute` read no project file: the activate script gives them the module through the Dagster
# CLI's per-command variables (click's auto_envvar_prefix DAGSTER_CLI), which, unlike
# DAGSTER_MODULE_NAME, do not reach `dagster dev`'s webserver and daemon.
unexport DAGSTER_HOME
CODE_LOCATION := assets.definitions
ACTIVATE_HOOK := export DAGSTER_CLI_ASSET_MATERIALIZE_MODULE_NAME=$(CODE_LOCATION) DAGSTER_CLI_JOB_EXECUTE_MODULE_NAME=$(CODE_LOCATION)  \# mavp: the code location

.PHONY: setup run ui test bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	grep -qF 'DAGSTER_CLI_ASSET_MATERIALIZE_MODULE_NAME' $(BIN)/activate || echo '$(ACTIVATE_HOOK)' >> $(BIN)/activate
	touch $@

# Launches the job, so the run shows in the job's history (the UI's job page and timeline).
run: setup
	$(BIN)/dg launch --job mavp_full_rebuild

ui: setup
	$(BIN)/dagster dev

test: setup
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(MAVP_HOME)
