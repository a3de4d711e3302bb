# rnnlab: two commands. `make demo` runs the main job, `make test` passes the tests.
# Both create .venv themselves. TORCH lets you choose another torch, e.g.
#   make test TORCH="torch==2.5.1 --index-url https://download.pytorch.org/whl/cpu"
PYTHON ?= python3
TORCH ?= torch==2.13.0
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The TORCH value the venv was built with: rewritten only when it changes, so that
# `make test TORCH=...` on an existing .venv reinstalls torch instead of ignoring the new value.
TORCH_SPEC := $(VENV)/.torch-spec

.PHONY: demo test lint bench clean venv FORCE

venv: $(STAMP)

$(TORCH_SPEC): FORCE
	@mkdir -p $(VENV)
	@echo '$(TORCH)' | cmp -s - $@ || echo '$(TORCH)' > $@

$(STAMP): pyproject.toml Makefile $(TORCH_SPEC)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e ".[all,dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/rnnlab demo

test: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/python -m pytest -q -n 2 tests

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks experiments
	$(BIN)/ruff format --check src tests benchmarks experiments

bench: $(STAMP)
	$(BIN)/rnnlab bench

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache
