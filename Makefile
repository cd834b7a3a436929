# `make demo` and `make test` work on a fresh machine: they create .venv when missing.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint install bench-quick clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

demo: $(STAMP)
	$(BIN)/omniloc demo --out omniloc-demo --overwrite

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	# two test workers on two cores: one BLAS / OpenMP thread each (more threads oversubscribe and
	# spin, which made the OT-Isomap tests eight times slower)
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 MPLCONFIGDIR=$$(mktemp -d) \
		$(BIN)/python -m pytest -q -n 2 tests

bench-quick: $(STAMP)
	$(BIN)/omniloc bench sim-office --out bench-out/sim-office-quick --quick --overwrite

clean:
	rm -rf $(VENV) omniloc-demo bench-out
