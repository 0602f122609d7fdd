# Two commands on a fresh machine:
#   make demo   set up .venv and pretrain a small DNAGPT on the bundled real corpus (~10 min on 2 CPU cores)
#   make test   set up .venv, lint, and run the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup demo test lint bench gsr clean

# torch is pinned: `pip install torch==2.13.0` takes the local CPU wheel instead of pulling CUDA builds.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q "torch==2.13.0" -e ".[test]"
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(BIN)/dnagpt pretrain demo --out runs/demo --resume

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/pip install -q "torch==2.13.0" -e ".[bench]"
	$(BIN)/python benchmarks/train_throughput.py

# genomic signal recognition and numeric-input regression on real data -> benchmarks/gsr.md, numeric_regression.md
gsr: setup
	$(BIN)/python benchmarks/gsr.py
	$(BIN)/python benchmarks/numeric_regression.py

clean:
	rm -rf $(VENV) runs .pytest_cache
