# hybridwm: two commands on a fresh machine.
#   make demo   set up .venv if missing, install, run the main job (quick benchmark + report)
#   make test   same set-up, then ruff and the test suite
# TORCH_SPEC installs a specific torch first (e.g. TORCH_SPEC=torch==2.13.0 for a CPU build).

PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?=
BIN := $(VENV)/bin
STAMP := $(VENV)/.hybridwm-installed

.PHONY: setup demo test lint format bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@if [ -n "$(TORCH_SPEC)" ]; then \
		echo ">> installing $(TORCH_SPEC)"; \
		$(BIN)/python -m pip install -q "$(TORCH_SPEC)"; \
	fi
	$(BIN)/python -m pip install -q -e ".[dev,gym,ray]"
	@touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/hybridwm demo --out runs/demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: lint
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -n auto

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_simulate.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis build dist *.egg-info
