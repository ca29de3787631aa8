# Every target installs what it needs into .venv first; nothing needs starting by hand.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export DAGSTER_HOME ?= $(CURDIR)/.dagster

.PHONY: install demo test lint dev bench samples clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

demo: install
	$(BIN)/tributary validate
	$(BIN)/tributary run --all

test: install
	$(BIN)/pytest -q

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

dev: install
	mkdir -p $(DAGSTER_HOME)
	$(BIN)/dagster dev -w workspace.yaml --host 127.0.0.1 --port 3000

bench: install
	$(BIN)/python -m bench
	$(BIN)/python -m bench.checks

samples: install
	$(BIN)/python -m platform_assets.demo_samples

clean:
	rm -rf data/warehouse.duckdb data/warehouse.duckdb.wal data/.staging .dagster
