# ganforge: GNU make entry points. Run `make` (or `make help`) for the list.
SHELL := bash
.SHELLFLAGS := -e -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-builtin-rules --no-print-directory

STAMP := .venv/.ganforge-stamp
# Every target that runs Python, simulates or elaborates sources the environment.
ENV := . scripts/env.sh &&

PYTEST_JOBS ?= 2
PYTEST_ARGS ?=
CONFIG ?= small
DEMO_ARGS ?=
BENCH_ARGS ?=
AREA_ARGS ?=

.PHONY: help venv .venv test regress demo workloads area bench-core bench-rolin bench-eors bench-system train-rtl bad-inputs lint formal clean distclean device-quality retrain-demo

help:
	@echo "ganforge make targets:"
	@echo "  make demo      train the reference DCGAN on digits in fixed point; writes build/demo/"
	@echo "  make test      run the fast test suite (pytest -n $(PYTEST_JOBS), not slow)"
	@echo "  make regress   run the full regression, slow tests included"
	@echo "  make workloads retrain the reference GANs and rewrite golden/workloads/*.npz"
	@echo "  make bench-core cycles of the sparse core on Verilator (reference layers, sparsity sweep,"
	@echo "                 transposed conv); writes build/bench/core.json and core.png"
	@echo "  make bench-rolin external-memory bytes of instance norm, ROLIN off and on (i2i, RTL DMA"
	@echo "                 counters, Verilator); writes build/bench/rolin.json"
	@echo "  make bench-eors EORS on the real ReLU layers: rates, cycles of the speculation unit and the"
	@echo "                 core with/without EORS (Verilator), ideal, unit area; writes build/bench/eors.json"
	@echo "  make bench-system one DCGAN training step on the accelerator's Verilog at 1, 2, 4 cores (Verilator):"
	@echo "                 cycles and bytes by phase beside the ideal; writes build/bench/system.json and .png"
	@echo "  make train-rtl two DCGAN training steps with every layer op on the accelerator's Verilog,"
	@echo "                 checked bit for bit against the golden training (ganforge train --on rtl)"
	@echo "  make bad-inputs every bad input of the catalogue (CLI arguments, op files) run as a user runs"
	@echo "                 it: refused in one line, or counted as a hang, traceback or silent run"
	@echo "  make lint      Verilator -Wall on every top of CONFIG: the design's warnings by category, and"
	@echo "                 those lint/waivers.txt waives (Amaranth's Verilog backend); writes build/lint/"
	@echo "  make formal    the SymbiYosys proofs (k-induction) and covers: the AXI4-Lite register bank,"
	@echo "                 the DMA's AXI4 master, the core's streams; with their mutants (a few minutes)"
	@echo "  make area      Yosys area of the components for CONFIG (generic, iCE40, ECP5); writes build/area/"
	@echo "  make device-quality the device arithmetic's training quality (1500 DCGAN steps, i2i) beside"
	@echo "                 float and host-scaled fixed point, seeds 0 and 1; writes build/device/quality.json"
	@echo "  make retrain-demo a translator pretrained on digits retrained on a user's hand: SELRET against full"
	@echo "                 retraining and baselines at equal compute (golden, device arithmetic, RETRAIN_ARGS);"
	@echo "                 writes build/retrain/retrain.json and before_after.png"
	@echo "  make venv      create/update .venv (also done on demand by the targets above)"
	@echo "  make clean     remove build outputs and caches (keeps .venv)"
	@echo "  make distclean clean, and remove .venv"
	@echo "variables: CONFIG=tiny|small|large  PYTEST_JOBS=N  PYTEST_ARGS='...'  DEMO_ARGS='...'  AREA_ARGS='...'"
	@echo "           TRAIN_ARGS='...' to ganforge train, e.g. '--steps 1 --batch 2 --cores 4'"
	@echo "           BENCH_ARGS='...' to the bench-* scripts, e.g. '--jobs 4' (simulations at once; default:"
	@echo "           the cores) or '--cluster tcp://HOST:PORT' (a Dask scheduler; or set GANFORGE_CLUSTER)"

venv .venv: $(STAMP)

$(STAMP): pyproject.toml scripts/bootstrap.sh
	@bash scripts/bootstrap.sh

test: $(STAMP)
	@$(ENV) pytest -n $(PYTEST_JOBS) -q -m "not slow" $(PYTEST_ARGS)

regress: $(STAMP)
	@$(ENV) pytest -n $(PYTEST_JOBS) -q $(PYTEST_ARGS)

demo: $(STAMP)
	@$(ENV) ganforge demo --out build/demo $(DEMO_ARGS)

workloads: $(STAMP)
	@$(ENV) ganforge workloads

bench-core: $(STAMP)
	@$(ENV) python scripts/bench_core.py --config $(CONFIG) $(BENCH_ARGS)

bench-rolin: $(STAMP)
	@$(ENV) python scripts/bench_rolin.py $(BENCH_ARGS)

bench-eors: $(STAMP)
	@$(ENV) python scripts/bench_eors.py --config $(CONFIG) $(BENCH_ARGS)

bench-system: $(STAMP)
	@$(ENV) python scripts/bench_system.py --config $(CONFIG) $(BENCH_ARGS)

TRAIN_ARGS ?=
train-rtl: $(STAMP)
	@$(ENV) ganforge train --on rtl --config $(CONFIG) $(TRAIN_ARGS)

lint: $(STAMP)
	@$(ENV) python scripts/lint.py --config $(CONFIG)

formal: $(STAMP)
	@$(ENV) pytest -q -m "" -p no:cacheprovider tests/test_formal_csr.py tests/test_formal_dma.py tests/test_formal_core.py

bad-inputs: $(STAMP)
	@$(ENV) python scripts/bad_inputs.py $(BENCH_ARGS)

area: $(STAMP)
	@$(ENV) ganforge area --config $(CONFIG) $(AREA_ARGS)

# The device arithmetic's training quality against float and host-scaled fixed point (issue 17).
device-quality: $(STAMP)
	@$(ENV) python scripts/device_quality.py

# Selective layer retraining on a user's hand, against full retraining and baselines (issue 15).
retrain-demo: $(STAMP)
	@$(ENV) python scripts/retrain_demo.py $(RETRAIN_ARGS)

clean:
	@echo "clean: build outputs, simulator builds and caches (.venv kept)"
	@rm -rf build sim_build results.xml .pytest_cache .hypothesis *.egg-info
	@find . -path ./.venv -prune -o \( -name __pycache__ -o -name sim_build \) -type d -print0 \
		| xargs -0 rm -rf
	@find . -path ./.venv -prune -o \( -name '*.vcd' -o -name results.xml \) -type f -print0 \
		| xargs -0 rm -f

distclean: clean
	@echo "distclean: removing .venv"
	@rm -rf .venv
