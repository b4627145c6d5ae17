# Two commands for a fresh machine with Python 3.11 and pip:
#   make demo   generate a sample region under data/ and run the nightly job on it
#   make test   run the whole test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test catalogue clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/talon demo

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile -q

catalogue: $(STAMP)
	$(BIN)/python -m checks.catalogue_doc > checks/CATALOGUE.md

clean:
	rm -rf data/sample-region data/out data/warehouse.duckdb data/warehouse.duckdb.wal
