# The two commands of the README, and what they need. Everything installs into ./.venv.
#
#   make demo   set up and run the main job: Li diffusion in Li3N with CHGNet (verdi run examples/submit_sse.py)
#   make test   set up and run the whole test suite, docs build included (what .ci/run calls)
#   make scale  only the scale mode: batches on the daemon under faults (PostgreSQL + RabbitMQ, SQLite + ZeroMQ)
#   make bench  every benchmark in benchmarks/, each printing its targets with met / NOT met (~10 min)
#
# torch is installed first, on its own, as the CPU wheel: installed after chgnet, pip would pull a
# multi-GB CUDA build. On a machine whose pip does not find the CPU wheel by itself, pass the
# PyTorch CPU index: make demo TORCH_INDEX=https://download.pytorch.org/whl/cpu
#
# Every install takes its versions from requirements/constraints.txt (the tested set), so CI is reproducible;
# pyproject.toml only gives the compatible ranges (for environments shared with other plugins).

PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
PYTEST_ARGS ?=
TEST_PROCESSES ?= 2

BIN := $(VENV)/bin
CONSTRAINTS := requirements/constraints.txt
STAMP := $(VENV)/.superionic-installed

.PHONY: demo test scale bench install setup lint clean-venv graphviz

demo: setup
	$(BIN)/verdi run examples/submit_sse.py

# The venv's bin first on PATH: the daemon that some tests start runs `verdi` from there.
# The suite runs on TEST_PROCESSES processes (pytest-xdist; each has its own throw-away profile), then
# the scale mode alone: its batches measure the daemon's throughput and must not share the cores.
# Both always run, so the log has both; exit 5 (nothing selected, e.g. with -k) is not a failure.
test: install
	@status=0; \
	for selection in "-n $(TEST_PROCESSES) --dist worksteal -m 'not scale'" "-m scale"; do \
	  echo "pytest $$selection $(PYTEST_ARGS)"; \
	  eval PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest $$selection $(PYTEST_ARGS); \
	  code=$$?; if [ $$code -ne 0 ] && [ $$code -ne 5 ]; then status=$$code; fi; \
	done; exit $$status

# The scale mode alone (also part of `make test`): batches on the daemon with faults, on PostgreSQL + RabbitMQ
# (started, or installed from Debian, when not running) and on the embedded default; at most 15 minutes.
scale: install
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest -m scale $(PYTEST_ARGS)

# Every script of benchmarks/ (helpers start with _), one after the other (they time themselves: nothing else of
# ours should run meanwhile), and the trajectory descriptors again at the length of a typical AIMD run, which has
# its own target; each prints the date, the load, the commit and every target with met / NOT met. All run even
# when one fails; the exit status is that of the last failure.
BENCH_RUNS := $(sort $(notdir $(wildcard benchmarks/[!_]*.py))) "trajectory_descriptors.py --frames 5000 --no-peers"

bench: install
	@status=0; \
	for run in $(BENCH_RUNS); do \
	  echo "python benchmarks/$$run"; \
	  OMP_NUM_THREADS=1 $(BIN)/python benchmarks/$$run || status=$$?; \
	done; exit $$status

setup: install
	$(BIN)/aiida-superionic setup

install: $(STAMP)

# A change of the ranges or of the tested set reinstalls. From TORCH_INDEX only torch itself (--no-deps): that
# index need not hold the pinned versions of torch's requirements, which the next line then takes from PyPI.
$(STAMP): pyproject.toml $(CONSTRAINTS)
	command -v dot > /dev/null || $(MAKE) graphviz
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -c $(CONSTRAINTS) '$(TORCH_SPEC)' $(if $(TORCH_INDEX),--no-deps --index-url $(TORCH_INDEX))
	$(BIN)/python -m pip install -c $(CONSTRAINTS) -e '.[ml,tests,docs,pre-commit]'
	$(BIN)/python -c "import torch, chgnet; assert torch.version.cuda is None, 'torch is a CUDA build: see the Makefile header'"
	touch $(STAMP)

# Graphviz's `dot` renders `verdi node graph generate`; optional: without it, only that command fails.
graphviz:
	( command -v apt-get > /dev/null && (apt-get install -y --no-install-recommends graphviz \
	  || (apt-get update && apt-get install -y --no-install-recommends graphviz)) ) \
	  || echo 'Warning: could not install graphviz (dot); `verdi node graph generate` needs it.'

lint: install
	$(BIN)/pre-commit run --all-files

clean-venv:
	rm -rf $(VENV)
