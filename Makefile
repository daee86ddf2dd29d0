# Two entry points on a fresh clone: `make demo` and `make test`. Both build .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo-output
LINTED := src tests benchmarks docs
# A CPU build from this machine's disk; on a GPU workstation: make TORCH=torch (or your build)
TORCH ?= torch==2.13.0
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test test-slow test-all test-browser screenshots test-data lint install figures bench bench-uses bench-denoise bench-ceiling clean

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

# real instrument files from the hyperspy 1.7.6 sdist, fetched once into ~/.cache/cimp
test-data: $(STAMP)
	$(BIN)/python tests/fetch_real_files.py

# tests in a new random order each run (its seed printed: ORDER=--random-order-seed=N repeats it)
ORDER ?= --random-order

test: lint test-data
	$(BIN)/pytest $(ORDER)

# the slow tests: torchrun with two processes, a real Ctrl-C, a whole folder of real files
test-slow: $(STAMP) test-data
	$(BIN)/pytest -m slow $(ORDER)

# the explorer in a real browser: Debian's chromium (apt-get, once) driven by Playwright
test-browser: $(STAMP)
	test -x /usr/bin/chromium || $(SUDO) apt-get install -y -q chromium || \
		($(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium)
	$(BIN)/pip install -q -e '.[dev,browser]'
	$(BIN)/pytest -m browser $(ORDER)

# the README's pictures of each page of `cimp serve`, from the browser tests
screenshots: $(STAMP)
	$(MAKE) test-browser
	CIMP_SCREENSHOTS=docs $(BIN)/pytest -m browser -q

test-all: lint test-data
	$(BIN)/pytest -m '' $(ORDER)

# the whole story on built-in data, about 6 minutes on 2 CPU cores (install included)
demo: $(STAMP)
	$(BIN)/cimp simulate $(DEMO_DIR)/raw --n 1200 --size 128 --seed 0 --workers 2
	$(BIN)/cimp ingest $(DEMO_DIR)/raw --out $(DEMO_DIR)/dataset --val 0.1 --test 0.2
	$(BIN)/cimp summary $(DEMO_DIR)/dataset
	rm -rf $(DEMO_DIR)/run
	$(BIN)/cimp train $(DEMO_DIR)/dataset --out $(DEMO_DIR)/run --steps 600 --batch-size 64 \
		--crop 96 --widths 16,32,64,128 --val-every 200
	$(BIN)/cimp evaluate $(DEMO_DIR)/run $(DEMO_DIR)/dataset --out $(DEMO_DIR)/report
	$(BIN)/python benchmarks/beside.py $(DEMO_DIR)/report/results.json
	$(BIN)/cimp embed $(DEMO_DIR)/run $(DEMO_DIR)/dataset
	$(BIN)/cimp audit $(DEMO_DIR)/run $(DEMO_DIR)/dataset --top 5
	$(BIN)/cimp report $(DEMO_DIR)/run $(DEMO_DIR)/dataset --out $(DEMO_DIR)/report.html
	rm -rf $(DEMO_DIR)/denoiser
	$(BIN)/cimp train-denoiser $(DEMO_DIR)/run --out $(DEMO_DIR)/denoiser --twin 600 --steps 900
	$(BIN)/cimp denoise $(DEMO_DIR)/denoiser $(DEMO_DIR)/raw/sim-s0-000000.hspy \
		--dwell-time x4 --out-dir $(DEMO_DIR)/denoised --preview

figures: test-data
	$(BIN)/python docs/make_field_figure.py
	$(BIN)/python docs/make_detector_figure.py

bench: $(STAMP)
	$(BIN)/python benchmarks/simulator_speed.py
	$(BIN)/python benchmarks/contrastive.py
	$(BIN)/python benchmarks/index_recall.py

# the physics ceiling: fields recovered from whole images without deep learning (~10 minutes)
bench-ceiling: $(STAMP)
	$(BIN)/python benchmarks/ceiling.py

# interval coverage and audit detection of the demo's model (run `make demo` first)
bench-uses: $(STAMP)
	$(BIN)/python benchmarks/uses.py $(DEMO_DIR)/run $(DEMO_DIR)/dataset

# peers: bm3d and scikit-image (the bench extra); careamics in benchmarks/.venv-careamics
bench-denoise: $(STAMP)
	$(BIN)/pip install -q -e '.[bench]'
	$(BIN)/python benchmarks/denoise.py $(DEMO_DIR)/denoiser

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache .ruff_cache
