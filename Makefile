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

DEMO_SYNTH ?= --feature-dim 64 --crops 2 --train-normal 32 --train-abnormal 32 --test-normal 16 --test-abnormal 16 \
	--min-snippets 24 --max-snippets 80
DEMO_ARGS = --config demo/rtfm_synthetic.yaml --data.init_args.root $(DEMO_DIR)/synthetic_mil \
	--trainer.default_root_dir $(DEMO_DIR)/runs --results_dir $(DEMO_DIR)/results --trainer.enable_progress_bar false

demo: install  ## synthetic data -> RTFM test at init, fit, test -> learned AUC, ROC plot, leaderboard (< 3 min on 2 cores)
	rm -rf $(DEMO_DIR)/results $(DEMO_DIR)/runs
	$(PYTHON) -m vadbench.cli synth mil --out $(DEMO_DIR)/synthetic_mil $(DEMO_SYNTH)
	$(PYTHON) -m vadbench.cli test $(DEMO_ARGS) --setting init
	$(PYTHON) -m vadbench.cli fit $(DEMO_ARGS)
	$(PYTHON) -m vadbench.cli plot roc --results $(DEMO_DIR)/results --dataset synthetic --out $(DEMO_DIR)/roc.png
	$(PYTHON) -m vadbench.cli leaderboard --results $(DEMO_DIR)/results --out $(DEMO_DIR)/leaderboard
	@echo "ROC plot: $(DEMO_DIR)/roc.png; result table: $(DEMO_DIR)/leaderboard/README.md"
	@$(PYTHON) -c "from vadbench.results import load_records as load; r = {x['setting']: x['metrics']['frame_auc_micro'] for x in load(['$(DEMO_DIR)/results'])}; print(f\"frame AUC (micro): {r['init']:.3f} at init -> {r['default']:.3f} learned\")"

test: install  ## install, then run the whole test suite (slow real-data and multi-process tests included), 2 workers
	@$(MAKE) --no-print-directory test-full

test-fast: ## run the tests not marked slow (no install step)
	$(PYTEST) -q -m "not slow"

test-full: ## run every test, slow ones included, 2 workers (make test without the install step)
	$(PYTEST) -q -n 2 --dist load --maxschedchunk 1

bench: install  ## print throughput/memory ratios of the benchmarks
	$(PYTHON) -m vadbench.cli bench rtfm

leaderboard:  ## regenerate the committed board leaderboards/ from the metafiles and leaderboards/results
	$(PYTHON) -m vadbench.cli leaderboard --committed

clean:  ## remove generated runs, results and caches
	rm -rf runs results lightning_logs $(DEMO_DIR) .pytest_cache
