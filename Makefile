# QPS developer commands. Needs only Python 3.11+ and make.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ADAPTERS := omics rocrate uri edp
PYPROJECTS := pyproject.toml $(foreach a,$(ADAPTERS),adapters/$(a)/pyproject.toml)
STAMP := $(VENV)/.installed

.PHONY: install test lint typecheck pytest demo serve plan bench lambda clean

install: $(STAMP)

$(STAMP): $(PYPROJECTS)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]' $(foreach a,$(ADAPTERS),-e adapters/$(a))
	@touch $(STAMP)

lint: install
	$(BIN)/ruff check qps_core adapters tests examples bench

typecheck: install
	$(BIN)/mypy qps_core $(foreach a,$(ADAPTERS),adapters/$(a)/qps_adapter_$(a))

pytest: install
	$(BIN)/pytest

test: lint typecheck pytest

plan: install
	$(BIN)/qps plan tests/fixtures/events

demo: install
	$(BIN)/qps demo

serve: install
	$(BIN)/qps serve --embedded

bench: install
	$(BIN)/python bench/packaging.py

lambda: install
	PYTHON=$(BIN)/python bash deploy/build_lambda.sh

clean:
	rm -rf $(VENV) build dist *.egg-info adapters/*/*.egg-info .mypy_cache .ruff_cache .pytest_cache
