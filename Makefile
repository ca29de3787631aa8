# Every target installs what it needs into .venv first; nothing needs starting by hand.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export DAGSTER_HOME ?= $(CURDIR)/.dagster

.PHONY: install demo test lint dev dev-postgres celery-worker bench samples clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	@# setuptools warns on every editable install that folders named like a package may shadow it
	PYTHONWARNINGS='ignore:Editable installation' $(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# The demo's REST sources read a local stand-in for their public APIs (see README).
DEMO_API_PORT ?= 8765
DEMO_API = http://127.0.0.1:$(DEMO_API_PORT)

# Serve the demo's REST APIs on 127.0.0.1 for as long as the command after it runs.
WITH_DEMO_API = $(BIN)/python -m platform_assets.demo_api --port $(DEMO_API_PORT) & api=$$!; \
	trap 'kill $$api' EXIT; \
	for i in 1 2 3 4 5 6 7 8 9 10; do \
	  $(BIN)/python -c "import socket; socket.create_connection(('127.0.0.1', $(DEMO_API_PORT)), 1)" \
	    2>/dev/null && break; sleep 0.5; \
	done; \
	OPEN_METEO_API_URL=$${OPEN_METEO_API_URL:-$(DEMO_API)/weather} \
	NEWSAPI_URL=$${NEWSAPI_URL:-$(DEMO_API)/news} \
	GITHUB_API_URL=$${GITHUB_API_URL:-$(DEMO_API)/github} \
	USGS_API_URL=$${USGS_API_URL:-$(DEMO_API)/earthquakes} \
	FX_API_URL=$${FX_API_URL:-$(DEMO_API)/fx}

# The `erp` source reads the demo database, loaded into the local PostgreSQL (the SQLite copy in
# data/samples/ where none answers); set ERP_DATABASE_URL to read another database instead.
# The signals stream is published to the local Redis first; without one, it is left out.
demo: install
	$(BIN)/tributary validate
	@export ERP_DATABASE_URL=$${ERP_DATABASE_URL:-$$($(BIN)/python -m platform_assets.demo_database)}; \
	skip=; $(BIN)/python -m platform_assets.demo_signals || skip="--exclude signals"; \
	$(WITH_DEMO_API) $(BIN)/tributary run --all $$skip

test: install
	$(BIN)/pytest -q

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

dev: install
	mkdir -p $(DAGSTER_HOME)
	@# `dagster dev` warns that `dg dev` supersedes it; dg is not installed, the warning is noise.
	@$(WITH_DEMO_API) PYTHONWARNINGS='ignore:Function `dev_command` is superseded' \
	  $(BIN)/dagster dev -w workspace.yaml --host 127.0.0.1 --port 3000

# The same, with Dagster's runs, event log and schedules in PostgreSQL (docs/deploy.md).
TRIBUTARY_DAGSTER_POSTGRES_URL ?= postgresql+psycopg2://postgres@127.0.0.1:5432/tributary_dagster
POSTGRES_DAGSTER_HOME ?= $(CURDIR)/.dagster-postgres

dev-postgres: install
	mkdir -p $(POSTGRES_DAGSTER_HOME)
	cp deploy/postgres/dagster.yaml $(POSTGRES_DAGSTER_HOME)/dagster.yaml
	$(BIN)/python deploy/postgres/create_database.py '$(TRIBUTARY_DAGSTER_POSTGRES_URL)'
	@export DAGSTER_HOME='$(POSTGRES_DAGSTER_HOME)' \
	  TRIBUTARY_DAGSTER_POSTGRES_URL='$(TRIBUTARY_DAGSTER_POSTGRES_URL)'; \
	$(WITH_DEMO_API) $(BIN)/dagster dev -w workspace.yaml --host 127.0.0.1 --port 3000

bench: install
	$(BIN)/python -m bench
	$(BIN)/python -m bench.checks
	$(BIN)/python -m bench.rest_api
	$(BIN)/python -m bench.plugins
	$(BIN)/python -m bench.sql
	$(BIN)/python -m bench.cdc
	$(BIN)/python -m bench.streams
	$(BIN)/python -m bench.deploy
	$(BIN)/python -m bench.ducklake
	$(BIN)/python -m bench.startup

samples: install
	$(BIN)/python -m platform_assets.demo_samples

clean:
	rm -rf data/warehouse.duckdb data/warehouse.duckdb.wal data/warehouse.duckdb.tmp data/.staging .dagster \
	  .dagster-postgres
