# n2nlib: the two commands of the README, and a few helpers.
#
#   make course   create .venv (once), install everything, open the notebooks in JupyterLab
#   make test     create .venv (once), install everything, run the test suite
#
# Everything goes into ./.venv; nothing is installed globally. The install runs again only
# when pyproject.toml or requirements/torch.txt change (stamp file .venv/.n2n-installed).
#
# Overridable:
#   PYTHON=python3.11            the interpreter that creates the venv (>= 3.10)
#   TORCH_SPEC="torch==2.14.1 torchvision==0.29.1 --index-url https://download.pytorch.org/whl/cu128"
#                                what pip installs for torch and torchvision, before anything else; default is
#                                the pin in requirements/torch.txt (may also be set in the env)
#   PYTEST_ARGS="-k cinn -x"     extra arguments for pytest
#   N2N_FAST=0                   `make test` runs the reduced mode (N2N_FAST=1, as CI does)
#                                unless told otherwise; 0 runs the notebooks' full experiments
#   JUPYTER_ARGS="--no-browser"  extra arguments for jupyter lab (--allow-root is added by
#                                itself when make runs as root, as in a container)

PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?=
PYTEST_ARGS ?=
N2N_FAST ?= 1
NOTEBOOK_ARGS ?=
JUPYTER_ARGS ?=

BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
STAMP := $(VENV)/.n2n-installed
LINT_PATHS := $(wildcard n2nlib tests benchmarks notebooks scripts)

.DEFAULT_GOAL := help
.PHONY: help course test notebooks venv lint clean clean-venv

help:
	@echo "make course   install into .venv (first time only) and open the notebooks in JupyterLab"
	@echo "make test     install into .venv (first time only) and run the tests"
	@echo "make notebooks  re-run every notebook in full mode and save it with its outputs"
	@echo "make lint     ruff check $(LINT_PATHS)"
	@echo "make venv     only install"
	@echo "make clean-venv  remove .venv (to reinstall, e.g. with another TORCH_SPEC)"

# The one install step, shared by `course` and `test`.
$(STAMP): pyproject.toml requirements/torch.txt
	$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "n2nlib needs Python >= 3.10; run: make PYTHON=python3.11 ...")'
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip
	@# torch first and pinned: otherwise a dependency would pull the newest torch with
	@# several GB of CUDA packages.
	$(if $(strip $(TORCH_SPEC)),$(PIP) install $(TORCH_SPEC),$(PIP) install -r requirements/torch.txt)
	$(PIP) install -e ".[dev]"
	touch $@

venv: $(STAMP)

# JupyterLab refuses to start as root (as in many containers) unless told it may.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u 2>/dev/null)),--allow-root,)

course: $(STAMP)
	@mkdir -p notebooks
	$(BIN)/jupyter lab notebooks/ $(ALLOW_ROOT) $(JUPYTER_ARGS)

test: $(STAMP)
	N2N_FAST=$(N2N_FAST) $(BIN)/python -m pytest $(PYTEST_ARGS)

# The committed notebooks carry the outputs of a full run; this makes them (minutes each).
# NOTEBOOK_ARGS="notebooks/02_toy_2d_flows.ipynb" runs one; "--fast --no-save" a quick check.
notebooks: $(STAMP)
	$(BIN)/python scripts/run_notebooks.py $(NOTEBOOK_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check $(LINT_PATHS)

clean:
	rm -rf build dist *.egg-info .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -not -path './$(VENV)/*' -prune -exec rm -rf {} +

clean-venv:
	rm -rf $(VENV)
