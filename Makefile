# Two entry points (see README): `make run` builds everything on the embedded default,
# `make test` runs the test suite. Both set up the virtual environment first, once.
SHELL := /bin/bash
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
MAVP_HOME ?= $(CURDIR)/.mavp
export MAVP_HOME
# dagster.yaml lives at the repo root; Dagster's own run storage goes under MAVP_HOME.
export DAGSTER_HOME := $(CURDIR)
export MAVP_DAGSTER_STORAGE := $(MAVP_HOME)/dagster

.PHONY: setup run test bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

run: setup
	mkdir -p $(MAVP_DAGSTER_STORAGE)
	$(BIN)/dagster asset materialize --select '*mavp' -m assets.definitions

test: setup
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(MAVP_HOME)
