# Two commands on a fresh machine:
#   make demo   set up .venv, pretrain a small DNAGPT on the bundled real corpus, then fine-tune it on the
#               bundled real task beside the same model from scratch and two baselines (15-25 min on 2 CPU cores)
#   make test   set up .venv, lint, and run the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup demo test lint docs bench gsr clean

# torch is pinned: `pip install torch==2.13.0` takes the local CPU wheel instead of pulling CUDA builds.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q "torch==2.13.0" -e ".[test]"
	touch $@

setup: $(VENV)/.installed

DEMO_TASK := src/dnagpt/resources/datasets/tis_arabidopsis

# --shrink 1: the demo's model, pretrained for minutes, is fine-tuned with its weights as loaded; dev
# kept them over the 0.2 warm start on every seed tried on two processors (README, "Warm start")
demo: setup
	$(BIN)/dnagpt pretrain demo --out runs/demo --resume
	$(BIN)/dnagpt bench --out runs/demo/bench --tasks $(DEMO_TASK) --pretrained runs/demo/model \
		--models kmer-logreg cnn dnagpt-scratch dnagpt-pretrained --seeds 3 --curve-tasks --shrink 1

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# the documentation site, warnings as errors (the tests build it too, and run its tutorials' code)
docs: setup
	$(BIN)/mkdocs build --strict --quiet -d site

test: lint
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/pip install -q "torch==2.13.0" -e ".[all]"
	$(BIN)/python benchmarks/train_throughput.py
	$(BIN)/python benchmarks/generation_speed.py
	$(BIN)/python benchmarks/scoring_speed.py
	$(BIN)/python benchmarks/memory.py
	$(BIN)/python benchmarks/data_pipeline.py

# genomic signal recognition and numeric-input regression on real data -> benchmarks/gsr.md, numeric_regression.md
gsr: setup
	$(BIN)/python benchmarks/gsr.py
	$(BIN)/python benchmarks/numeric_regression.py

clean:
	rm -rf $(VENV) runs site .pytest_cache
