# vadbench: `make help` lists the targets.
PYTHON ?= python3
PIP ?= $(PYTHON) -m pip
# torch/torchvision pinned to the builds the workplace keeps on local disk (a CUDA build; runs on CPU too)
TORCH_PINS ?= torch==2.14.1 torchvision==0.29.1
DEMO_DIR ?= demo_output
PYTEST ?= $(PYTHON) -m pytest

.PHONY: help install demo test test-fast test-full bench leaderboard clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

install:  ## install vadbench (editable) with its test dependencies
	$(PIP) install -q $(TORCH_PINS)
	$(PIP) install -q -e ".[dev]"

demo: install  ## synthetic data -> fit RTFM -> test -> result JSON -> leaderboard table (a few minutes on a laptop)
	$(PYTHON) -m vadbench.cli synth mil --out $(DEMO_DIR)/synthetic_mil
	$(PYTHON) -m vadbench.cli fit --config rtfm/synthetic.yaml --data.init_args.root $(DEMO_DIR)/synthetic_mil \
		--trainer.default_root_dir $(DEMO_DIR)/runs --results_dir $(DEMO_DIR)/results
	$(PYTHON) -m vadbench.cli leaderboard --results $(DEMO_DIR)/results --out $(DEMO_DIR)/leaderboard
	@echo "--- result table ($(DEMO_DIR)/leaderboard/README.md) ---"
	@grep -A12 -i "synthetic" $(DEMO_DIR)/leaderboard/README.md | head -30

test: install  ## install, then run the whole test suite (slow real-data and multi-process tests included), 2 workers
	$(PYTEST) -q -n 2 --dist load --maxschedchunk 1

test-fast: ## run the tests not marked slow (no install step)
	$(PYTEST) -q -m "not slow"

bench: install  ## print throughput/memory ratios of the benchmarks
	$(PYTHON) -m vadbench.cli bench rtfm

leaderboard:  ## regenerate leaderboards/ from the metafile and leaderboards/results
	$(PYTHON) -m vadbench.cli leaderboard --results leaderboards/results --out leaderboards

clean:  ## remove generated runs, results and caches
	rm -rf runs results lightning_logs $(DEMO_DIR) .pytest_cache
