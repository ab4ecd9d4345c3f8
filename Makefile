# QPS developer commands. Needs only Python 3.11+ and make.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ADAPTERS := omics rocrate uri edp
PYPROJECTS := pyproject.toml $(foreach a,$(ADAPTERS),adapters/$(a)/pyproject.toml)
EDITABLES := -e '.[test]' $(foreach a,$(ADAPTERS),-e adapters/$(a))
# The exact versions the test suite last passed with (`make lock` refreshes them).
CONSTRAINTS := constraints.txt
STAMP := $(VENV)/.installed
LINTED := qps_core adapters tests examples bench
EXAMPLE := examples/qps-adapter-lims
TYPED := qps_core tests $(foreach a,$(ADAPTERS),adapters/$(a)/qps_adapter_$(a) adapters/$(a)/tests) \
	$(EXAMPLE)/qps_adapter_lims $(EXAMPLE)/tests

.PHONY: install lock test test-fast lint typecheck pytest demo serve plan bench bench-scale lambda clean

install: $(STAMP)

$(STAMP): $(PYPROJECTS) $(CONSTRAINTS)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) $(EDITABLES)
	@touch $(STAMP)

# The newest versions the pyprojects allow; constraints.txt is rewritten only if the whole suite passes with them.
lock:
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --upgrade --upgrade-strategy eager $(EDITABLES)
	@touch $(STAMP)
	{ echo '# Exact versions the test suite passed with; used by make install, refreshed by make lock.'; \
	  $(BIN)/python -m pip freeze --exclude-editable | grep -v -E '^(pip|setuptools|wheel)=='; } > $(CONSTRAINTS).new
	$(MAKE) test
	mv $(CONSTRAINTS).new $(CONSTRAINTS)
	@touch $(STAMP)

lint: install
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)

typecheck: install
	$(BIN)/mypy $(TYPED)

pytest: install
	$(BIN)/pytest

# Everything but the slow end-to-end tests and those that need the network.
test-fast: install
	$(BIN)/pytest -m "not slow and not network"

test: lint typecheck pytest

plan: install
	$(BIN)/qps plan tests/fixtures/events

demo: install
	$(BIN)/qps demo

serve: install
	$(BIN)/qps serve --embedded

bench: install
	$(BIN)/python -m bench.packaging  # from the repository root: it uses tests/support

# A real package of OBJECTS objects through `qps replay` on the synthetic S3 (bench/synth_s3.py), pinned to one core.
OBJECTS ?= 100000
bench-scale: install
	$(BIN)/python -m bench.scale --objects $(OBJECTS) --cpu 0

lambda: install
	PYTHON=$(BIN)/python bash deploy/build_lambda.sh

clean:
	rm -rf $(VENV) build dist *.egg-info adapters/*/*.egg-info .mypy_cache .ruff_cache .pytest_cache
