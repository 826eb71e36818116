# `make run` and `make test` each create .venv on first use (Python 3.11), install wlkit
# with the tested stack from constraints.txt, then run. Re-running skips the install
# unless setup.cfg, pyproject.toml or constraints.txt changed.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.wlkit-installed

.PHONY: run test test-all lint bench install

install: $(STAMP)

$(STAMP): setup.cfg pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/wlkit run pipelines/quickstart.yaml

test: $(STAMP)
	$(BIN)/python -m pytest

test-all: $(STAMP)
	$(BIN)/python -m pytest -m "slow or not slow"

lint: $(STAMP)
	$(BIN)/ruff check .

# Every benchmark, each in its own process, 1 thread (~30 min on 2 cores; not part of
# `make test`); results in benchmarks/results/. E.g. make bench BENCH="--quick overhead"
bench: $(STAMP)
	$(BIN)/python -m benchmarks $(BENCH)
