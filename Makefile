# climate-data-platform: the two commands a user needs are `make run` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
export DBT_SEND_ANONYMOUS_USAGE_STATS := False
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

.PHONY: setup run test test-deps lint ui docs bench clean samples dbt-parse

setup: $(VENV)/.installed

# Creates the virtual environment if missing and installs the exact lock; re-runs only when the lock changes.
$(VENV)/.installed: requirements.lock.txt pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.lock.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -e .
	touch $@

dbt-parse: setup
	$(PY) -m dagster_project prepare

# Materialise every asset of every dataset on the embedded default (local files + DuckDB + assets/ samples).
run: setup
	$(PY) -m dagster_project run

# System packages the tests use (Debian chromium for the dbt docs check, redis-server for the cluster test).
test-deps:
	bash scripts/install-system-deps.sh

# One test file per worker at a time. tests/platform/test_ui.py (`dagster dev` and the bring-up by the sensors
# alone, the longest file) is named first and the files keep that order, so it starts at once on one worker while
# the other works through the rest. (Naming it before `tests` does not work: pytest collects it inside `tests`.)
# --durations lists the slowest tests at the end, so every CI log says where the suite's time went.
TEST_FIRST := tests/platform/test_ui.py
TEST_REST := $(filter-out tests/platform/,$(sort $(wildcard tests/*/))) \
	$(filter-out $(TEST_FIRST),$(sort $(wildcard tests/platform/test_*.py)))
test: setup test-deps
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(PY) -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder \
		--durations=15 $(TEST_FIRST) $(TEST_REST)

lint: setup
	$(VENV)/bin/ruff check dagster_project tests benchmarks
	$(VENV)/bin/ruff format --check dagster_project tests benchmarks

# Dagster UI (webserver + daemon) on http://127.0.0.1:3000
ui: setup
	$(PY) -m dagster_project prepare
	mkdir -p $(DAGSTER_HOME) && cp -n deploy/local/dagster.yaml $(DAGSTER_HOME)/dagster.yaml 2>/dev/null || true
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(VENV)/bin/dagster dev -h 127.0.0.1 -p 3000 -w workspace.yaml

# dbt docs site on http://127.0.0.1:8080
docs: setup
	$(PY) -m dagster_project docs

samples: setup
	$(PY) -m dagster_project samples

bench: setup
	$(PY) -m benchmarks

clean:
	rm -rf data .dagster_home dbt/target dbt/logs

# Cluster profile (README "Running on a cluster"): Redis + CDP_WORKERS Celery workers + webserver/daemon on
# 127.0.0.1, stopped by PID. `cluster-deps` installs Debian's redis-server if it is missing (also needed by
# the tests marked `cluster`).
.PHONY: cluster-deps cluster-up cluster-down cluster-status
cluster-deps:
	deploy/cluster/install-redis.sh

cluster-up: setup cluster-deps
	deploy/cluster/cluster.sh up

cluster-down:
	deploy/cluster/cluster.sh down

cluster-status:
	deploy/cluster/cluster.sh status
