# Two entry points on a fresh clone: `make demo` and `make test`. Both build .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo-output
LINTED := src tests benchmarks docs
# A CPU build from this machine's disk; on a GPU workstation: make TORCH=torch (or your build)
TORCH ?= torch==2.13.0

.PHONY: demo test test-all lint install figures bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)

test: lint
	$(BIN)/pytest

test-all: lint
	$(BIN)/pytest -m ''

demo: $(STAMP)
	$(BIN)/cimp simulate $(DEMO_DIR)/raw --n 300 --size 256 --seed 0 --workers 2
	$(BIN)/cimp ingest $(DEMO_DIR)/raw --out $(DEMO_DIR)/dataset
	$(BIN)/cimp summary $(DEMO_DIR)/dataset

figures: $(STAMP)
	$(BIN)/python docs/make_field_figure.py

bench: $(STAMP)
	$(BIN)/python benchmarks/simulator_speed.py

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache .ruff_cache
