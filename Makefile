# Sentinel: the two contract commands are `make run` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
export SENTINEL_HOME ?= $(CURDIR)/.sentinel
export DBT_PROFILES_DIR := $(CURDIR)
export DBT_PROJECT_DIR := $(CURDIR)

.PHONY: setup run ui health report serve docs bench-api dashboard dashboard-serve metrics test test-fast lint pytest evaluate bench bench-spam spark-extra spark-test bench-scale mlflow-ui rollback clean

# The pinned dependencies (constraints.txt, every package) are installed by uv, from the Python registry like pip,
# in about 45 s where pip takes 78 s on this machine (same packages, same versions); if uv cannot be installed or
# fails, pip does it. --compile-bytecode: the .pyc files pip writes too; without them every Python process of the
# suite compiled its imports again wherever PYTHONDONTWRITEBYTECODE is set (CI sets it): pytest took 852 s
# instead of about 700. UV_NATIVE_TLS: the system's certificates, as pip uses them (a proxy's own CA works).
UV_VERSION := 0.9.30

$(BIN)/.installed: pyproject.toml constraints.txt
	@echo "setup: the pinned dependencies into $(VENV) (pip's or uv's output in $(VENV)/install.log)"
	$(PYTHON) -m venv $(VENV)
	@{ $(BIN)/pip install -q uv==$(UV_VERSION) \
		&& UV_NATIVE_TLS=1 $(BIN)/uv pip install --compile-bytecode --python $(BIN)/python -c constraints.txt -e '.[dev]'; } \
		> $(VENV)/install.log 2>&1 \
	|| { echo "setup: uv failed (see $(VENV)/install.log), installing with pip (1 to 3 minutes)"; \
		{ $(BIN)/pip install --upgrade pip && $(BIN)/pip install -c constraints.txt -e '.[dev]'; } \
		>> $(VENV)/install.log 2>&1; } \
	|| { tail -n 30 $(VENV)/install.log; echo "setup failed: see $(VENV)/install.log"; exit 1; }
	@echo "setup: done"
	touch $@

setup: $(BIN)/.installed  ## create the virtual environment with pinned dependencies

# Debian's Chromium, for the test that opens the Dagster UI in a real browser (as root or through sudo)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
/usr/bin/chromium:
	@command -v apt-get >/dev/null || { echo "the UI test needs Chromium: install Debian's chromium package"; exit 1; }
	$(SUDO) apt-get update -q && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium

run: setup  ## the whole pipeline through Dagster (generate if empty, ingest, dbt, spam lifecycle, publish, answer)
	$(BIN)/python -m orchestration run

ui: setup  ## Dagster UI on http://127.0.0.1:3000: runs, asset lineage, checks, schedules, sensors
	PATH=$(CURDIR)/$(BIN):$$PATH DAGSTER_HOME=$$($(BIN)/python -m orchestration home) \
		$(BIN)/dagster dev --host 127.0.0.1 --port 3000

health: setup  ## send the new alerts and rebuild reports/data_health.html from the run history and the monitors
	$(BIN)/python -m orchestration health

report: setup  ## rebuild reports/sentinel_report.html (plots: data, quality, anomalies, evaluation, spam, lineage)
	$(BIN)/python -m orchestration report

serve: setup  ## the read API on http://127.0.0.1:8000 (OpenAPI docs at /docs) over the published snapshot
	$(BIN)/uvicorn ml.serving.app:app --host 127.0.0.1 --port 8000

dashboard: setup  ## the BI dashboard (KPI health, data quality, spam) from the published snapshot into $(SENTINEL_HOME)/dashboard
	$(BIN)/python -m ml dashboard

DASHBOARD_PORT ?= 8050
dashboard-serve: dashboard  ## serve the dashboard on http://127.0.0.1:$(DASHBOARD_PORT) (static files; Ctrl-C stops it)
	$(BIN)/python -m http.server $(DASHBOARD_PORT) --bind 127.0.0.1 --directory $(SENTINEL_HOME)/dashboard

Q ?= --metrics api_anomalies --group-by metric_time__day
metrics: setup  ## MetricFlow over the warehouse (docs/bi.md): make metrics Q="--metrics spam_flagged --group-by metric_time__week"
	mkdir -p $(SENTINEL_HOME)
	$(BIN)/dbt parse --quiet
	$(BIN)/mf query $(Q)

docs: setup  ## dbt docs (models, columns, contracts, tests, exposures) into target/; browse with dbt docs serve
	mkdir -p $(SENTINEL_HOME)
	$(BIN)/dbt docs generate

bench-api: setup  ## API load test from a second process while the pipeline republishes: rps, p50/p95, torn reads
	$(BIN)/python -m ml.serving.loadtest

RUFF := $(BIN)/ruff check . && $(BIN)/ruff format --check .
SQLFLUFF := $(BIN)/sqlfluff lint models analyses tests/generic tests/singular

# sqlfluff's findings are on stdout; its stderr (nanobind's report of DuckDB objects still alive at exit, which
# installing the Rust parser brings out) is shown when it fails
lint: setup  ## ruff for Python, sqlfluff (dbt templater) for SQL
	mkdir -p $(SENTINEL_HOME)
	$(RUFF)
	$(BIN)/dbt parse --quiet
	@echo '$(SQLFLUFF)'
	@$(SQLFLUFF) 2> $(SENTINEL_HOME)/sqlfluff.err || { cat $(SENTINEL_HOME)/sqlfluff.err; exit 1; }

# pytest-xdist workers: the tests of one shared state stay on one worker (tests/python/conftest.py); -n 0 is serial
PYTEST_WORKERS ?= 2
PYTEST := $(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadgroup

pytest: setup /usr/bin/chromium  ## the pytest suite; exit code 5 (no tests collected) is a failure like any other
	$(PYTEST)

# everything CI runs: ruff first (seconds; a failure stops the target there), then pytest, with `dbt parse` and
# sqlfluff in the background on the core pytest leaves idle. The parse checks the project; done into sqlfluff's own
# target folder (away from the project's `target/`, which two tests write to) it also gives sqlfluff's dbt templater
# the partial parse it reuses: parse then sqlfluff took 91 s of CPU, sqlfluff alone 96 s, and the parse no longer
# holds pytest back (it ran first, about 10 s). A broken project fails pytest's first state build too. The background
# report (parse, then sqlfluff's findings; its stderr when it fails, as in `make lint`) is printed after pytest's;
# either failing fails the target.
test: setup /usr/bin/chromium  ## everything CI runs: ruff, then pytest beside dbt parse and sqlfluff
	mkdir -p $(SENTINEL_HOME)
	@echo "dbt parse, then sqlfluff: checking the project and linting the SQL in the background (report after pytest's)"
	@( export DBT_TARGET_PATH=$(SENTINEL_HOME)/sqlfluff/target DBT_LOG_PATH=$(SENTINEL_HOME)/sqlfluff/logs; \
		$(BIN)/dbt parse --quiet 2>&1 && exec $(SQLFLUFF) ) > $(SENTINEL_HOME)/sqlfluff.log 2> $(SENTINEL_HOME)/sqlfluff.err & \
		lint=$$!; \
		echo '$(RUFF)'; \
		$(RUFF) || { kill $$lint; echo "make test failed: ruff"; exit 1; }; \
		$(PYTEST); tests=$$?; \
		wait $$lint; sql=$$?; \
		echo "--- dbt parse and sqlfluff (exit $$sql)"; cat $(SENTINEL_HOME)/sqlfluff.log; \
		[ $$sql -eq 0 ] || cat $(SENTINEL_HOME)/sqlfluff.err; \
		[ $$tests -eq 0 ] && [ $$sql -eq 0 ] || { echo "make test failed: pytest exit $$tests, dbt parse or sqlfluff exit $$sql"; exit 1; }

test-fast: setup  ## the edit loop (about a minute): ruff, and the tests that build no state (pytest -m "not slow")
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadgroup -m "not slow"

evaluate: setup  ## detector comparison on the generator's ground truth and the real benchmarks
	$(BIN)/python -m ml evaluate

bench: setup  ## detection-mart throughput vs pandas at 1M/10M/30M series-days, incremental-run cost
	$(BIN)/python -m ml bench

bench-spam: setup  ## spam feature mart + training + scoring at 1M and 10M numbers per week (scoring on Spark too, with the extra): wall time, peak memory
	$(BIN)/python -m ml spam-bench

# Apache Spark (docs/scaling.md): the [spark] extra (PySpark, dbt-spark; Java 17 from Debian) on first use.
# Without a cache (uv --no-cache, pip --no-cache-dir): PySpark comes as a 450 MB source archive that is built into a
# wheel on install, and where the registry's answer is not cacheable (as behind this project's CI proxy) uv stored
# a new copy of archive, sources and wheel at each install, 2.3 GB a time: about 40 clean-clone runs filled the
# disk and the next install failed with "No space left on device". Uncached, the install takes as long (26 s) and
# needs about 2.5 GB of free space in TMPDIR only while it runs; on failure the free space is shown.
SPARK_TMP = $${TMPDIR:-/tmp}
spark-extra: setup
	@$(BIN)/python -c "import pyspark, dbt.adapters.spark" 2>/dev/null || { \
		echo "spark: installing the [spark] extra (PySpark, dbt-spark) into $(VENV)"; \
		{ [ -x $(BIN)/uv ] && UV_NATIVE_TLS=1 $(BIN)/uv pip install -q --no-cache --compile-bytecode \
			--python $(BIN)/python -c constraints.txt -e '.[dev,spark]'; } \
		|| $(BIN)/pip install -q --no-cache-dir -c constraints.txt -e '.[dev,spark]' \
		|| { echo "spark: the install failed; PySpark is built from a 450 MB source archive and needs about 2.5 GB"; \
			echo "free in $(SPARK_TMP) while it builds. Free space there now:"; df -h $(SPARK_TMP); exit 1; }; }

# a small extract in its own state folder, built, trained, scored and evaluated (the real benchmarks) on DuckDB;
# then Spark ingesting the same landing files itself, every seed, model and test of the project on a local Spark
# session (data and unit tests), the champion scoring the latest week there (mapInPandas), and Spark's raw tables,
# marts, evaluation and scores compared with DuckDB's row by row (python -m ml spark-test); then the Spark
# ingestion's own tests (tests/spark: edge cases and bad files against DuckDB's ingestion); then the Dagster job
# on the Spark engine (SENTINEL_ENGINE=spark) over the same landing files in a state of its own, and its published
# snapshot compared with the DuckDB side's marts (python -m ml spark-test --published-from)
SPARK_TEST_HOME := $(SENTINEL_HOME)/spark-test
SPARK_TEST_DAGSTER := $(SPARK_TEST_HOME)/dagster
# the gate's bootstrap resamples, on DuckDB and again in the lifecycle parity on Spark
SPARK_TEST_N_BOOT := 20
spark-test: spark-extra  ## ingestion, every model, seed and test on Apache Spark (local PySpark), the training step and scoring there too, then the Dagster job on Spark: tests, parity with DuckDB
	rm -rf $(SPARK_TEST_HOME)
	SENTINEL_HOME=$(SPARK_TEST_HOME) $(BIN)/python -m ml generate --calls-numbers 2000
	SENTINEL_HOME=$(SPARK_TEST_HOME) $(BIN)/python -m ml ingest
	SENTINEL_HOME=$(SPARK_TEST_HOME) $(BIN)/python -m ml build
	SENTINEL_HOME=$(SPARK_TEST_HOME) $(BIN)/python -m ml spam train --n-boot $(SPARK_TEST_N_BOOT)
	SENTINEL_HOME=$(SPARK_TEST_HOME) $(BIN)/python -m ml spam score
	SENTINEL_HOME=$(SPARK_TEST_HOME) $(BIN)/python -m ml evaluate
	SENTINEL_HOME=$(SPARK_TEST_HOME) $(BIN)/python -m ml spark-test --n-boot $(SPARK_TEST_N_BOOT)
	$(BIN)/python -m pytest tests/spark
	rm -rf $(SPARK_TEST_DAGSTER) && mkdir -p $(SPARK_TEST_DAGSTER)
	cp -r $(SPARK_TEST_HOME)/landing $(SPARK_TEST_HOME)/ground_truth $(SPARK_TEST_DAGSTER)/
	SENTINEL_HOME=$(SPARK_TEST_DAGSTER) SENTINEL_ENGINE=spark $(BIN)/python -m orchestration run --n-boot $(SPARK_TEST_N_BOOT)
	SENTINEL_HOME=$(SPARK_TEST_HOME) $(BIN)/python -m ml spark-test --published-from $(SPARK_TEST_DAGSTER)

# the scale figures of docs/scaling.md in one command: the detection mart, then the spam stages (with the extra
# installed, bench-spam's Spark stages run too: the feature mart's build and the scoring on Spark)
bench-scale: spark-extra  ## DuckDB vs Spark local: detection mart at 1M/10M/30M series-days, spam feature mart + scoring at 1M/10M numbers a week
	$(BIN)/python -m ml bench-scale
	$(BIN)/python -m ml spam-bench

mlflow-ui: setup  ## browse runs, model versions, aliases and metrics at http://127.0.0.1:5000
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(SENTINEL_HOME)/mlflow/mlflow.db --host 127.0.0.1 --port 5000

rollback: setup  ## make the previous spam model champion again and rescore the latest week
	$(BIN)/python -m ml spam rollback

clean:  ## remove all runtime state (warehouse, landing files, reports)
	rm -rf $(SENTINEL_HOME) target logs
