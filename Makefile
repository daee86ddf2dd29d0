# Two entry points on a fresh clone: `make demo` and `make test`. Both build .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo-output

.PHONY: demo test lint install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

test: lint
	$(BIN)/pytest

demo: $(STAMP)
	$(BIN)/cimp simulate $(DEMO_DIR)/raw --n 300 --size 256 --seed 0
	$(BIN)/cimp ingest $(DEMO_DIR)/raw --out $(DEMO_DIR)/dataset
	$(BIN)/cimp summary $(DEMO_DIR)/dataset

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache .ruff_cache
