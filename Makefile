# shelfwise: `make demo` and `make test` are all a fresh clone needs.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
export SHELFWISE_HOME ?= $(CURDIR)/.shelfwise
export OPENBLAS_NUM_THREADS := 1
export BENTOML_DO_NOT_TRACK := true
export MLFLOW_DISABLE_TELEMETRY := true
DATA := data/online_retail_ii/online_retail_II_2009-2011_dedup.parquet
PORT ?= 3000
# Test windows of the demo: recommendations and churn are tested on 2011-09-01..2011-12-09,
# CLTV (180-day horizon) on 2011-06-01..2011-11-28, the last windows the data covers fully.
RECS_AS_OF ?= 2011-09-01
CHURN_AS_OF ?= 2011-09-01
CLTV_AS_OF ?= 2011-06-01

.PHONY: env demo pipeline serve retrain mlflow-ui test test-fast lint notebooks bench-features bench-recs bench-load bench-zoo bench-freshness bench-scale bench-experiments soak fuzz-api clean

env: $(VENV)/.installed

$(VENV)/.installed: requirements.lock requirements-dev.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.lock -r requirements-dev.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

pipeline: env
	$(BIN)/shelfwise ingest --source online-retail-ii $(DATA)
	$(BIN)/shelfwise events simulate --seed 0
	$(BIN)/shelfwise features build --as-of $(CHURN_AS_OF)
	$(BIN)/shelfwise train recs --as-of $(RECS_AS_OF)
	$(BIN)/shelfwise train churn --as-of $(CHURN_AS_OF)
	$(BIN)/shelfwise train cltv --as-of $(CLTV_AS_OF)
	$(BIN)/shelfwise segments save garden-free-champions \
	    --filter '{"rfm_segment": ["Champions"], "never_bought_category": ["garden"]}'
	$(BIN)/shelfwise offers plan --campaign winter-retention --out $(SHELFWISE_HOME)/plans/winter-retention.csv
	$(BIN)/shelfwise report --out $(SHELFWISE_HOME)/report-out

demo: pipeline
	@echo
	@echo 'API keys made for this demo (shelfwise keeps only their SHA-256). Paste the exports'
	@echo 'into the shell you run curl from:'
	@$(BIN)/shelfwise keys demo 2>/dev/null
	@echo
	@echo 'Service: http://127.0.0.1:$(PORT)  (OpenAPI page at /, Ctrl-C to stop). Try:'
	@echo '  curl -s -X POST http://127.0.0.1:$(PORT)/recommend -H "Authorization: Bearer $$SHELFWISE_STOREFRONT_KEY" -H '\''Content-Type: application/json'\'' -d '\''{"user_id": "13085", "k": 5}'\'''
	@echo '  curl -s -X POST http://127.0.0.1:$(PORT)/recommend -H "Authorization: Bearer $$SHELFWISE_STOREFRONT_KEY" -H '\''Content-Type: application/json'\'' -d '\''{"user_id": "13085", "k": 5, "include_purchased": false}'\'''
	@echo '  curl -s -X POST http://127.0.0.1:$(PORT)/recommend -H "Authorization: Bearer $$SHELFWISE_STOREFRONT_KEY" -H '\''Content-Type: application/json'\'' -d '\''{"user_id": "new-visitor", "k": 5}'\'''
	@echo '  curl -s -X POST http://127.0.0.1:$(PORT)/customer -H "Authorization: Bearer $$SHELFWISE_MARKETER_KEY" -H '\''Content-Type: application/json'\'' -d '\''{"customer_id": "13085"}'\'''
	@echo '  curl -s -X POST http://127.0.0.1:$(PORT)/segments/query -H "Authorization: Bearer $$SHELFWISE_MARKETER_KEY" -H '\''Content-Type: application/json'\'' -d '\''{"name": "rfm-champions", "limit": 3}'\'''
	@echo '  curl -s http://127.0.0.1:$(PORT)/segments/garden-free-champions/export -H "Authorization: Bearer $$SHELFWISE_MARKETER_KEY" | head'
	@echo '  curl -s -X POST http://127.0.0.1:$(PORT)/offers -H "Authorization: Bearer $$SHELFWISE_MARKETER_KEY" -H '\''Content-Type: application/json'\'' -d '\''{"customer_id": "13085"}'\'''
	@echo '  open http://127.0.0.1:$(PORT)/report in a browser (the marketer report; password: the marketer key)'
	@echo '  curl -s http://127.0.0.1:$(PORT)/v1/status -H "Authorization: Bearer $$SHELFWISE_ADMIN_KEY" ; curl -s http://127.0.0.1:$(PORT)/readyz'
	@echo
	$(BIN)/shelfwise serve --port $(PORT)

serve: env
	$(BIN)/shelfwise serve --port $(PORT)

# Ingest $(SHELFWISE_HOME)/inbox, retrain every family, promote only the winners (cron-safe).
retrain: env
	$(BIN)/shelfwise retrain

# MLflow's UI on the workspace's runs and registered models: http://127.0.0.1:5000
mlflow-ui: env
	$(BIN)/shelfwise mlflow-ui

# Two processes, each test file on one (its module fixtures are built once), longest files
# first (tests/conftest.py); TEST_WORKERS=0 runs everything in this process.
TEST_WORKERS ?= 2
test: env
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=15

# The edit loop: every test but the slow ones (the end-to-end service on the bundled data, the
# notebooks, whole retrains), well under 3 minutes on 2 cores. `make test` runs everything.
test-fast: env
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile -m "not slow and not e2e" -q

# Run the notebooks on the bundled data; executed copies (with plots) go to the workspace,
# the notebooks in git stay without outputs. `make test` runs them too.
notebooks: env
	$(BIN)/python notebooks/run.py --out $(SHELFWISE_HOME)/notebooks

lint: env
	$(BIN)/ruff check features training serving benchmarks tests notebooks
	$(BIN)/lint-imports

# Wall time and peak memory of every feature table on the full data (README, "Benchmarks").
bench-features: env
	$(BIN)/python -m benchmarks.feature_tables

# The zoo: six shops of other shapes end to end (ingest --mapping, train all, serve, HTTP); one
# table (docs/results.md, "Any shop"). CDNOW's full log is read from $$SHELFWISE_DATA (default
# ../shared/data) and skipped with the reason when absent. About 7-10 minutes.
bench-zoo: env
	mkdir -p $(SHELFWISE_HOME)
	$(BIN)/python -m benchmarks.zoo --json $(SHELFWISE_HOME)/zoo.json --plot $(SHELFWISE_HOME)/zoo.png

# The service's recommender as tested, brought up to the data's end, or refit there, scored on
# the 90 days after the data ends, on four shops (docs/results.md, "What the service's
# recommender knows"). About 3 minutes.
bench-freshness: env
	mkdir -p $(SHELFWISE_HOME)
	$(BIN)/python -m benchmarks.freshness --json $(SHELFWISE_HOME)/freshness.json \
		--plot $(SHELFWISE_HOME)/freshness.png

# Every step's wall time and peak memory on a generated retail shop of size SIZE (S: 10k
# customers, M: 100k, L: 1M; docs/benchmarks.md, "Scale").
SIZE ?= S
bench-scale: env
	$(BIN)/python -m benchmarks.scale --size $(SIZE)

# Time to train the champion recommender on the full data (README, "Benchmarks").
bench-recs: env
	$(BIN)/python -m benchmarks.train_recs --as-of $(RECS_AS_OF)

# Throughput, latency, event-to-answer time and memory of the running service (`make serve`
# in another terminal; needs wrk: apt-get install wrk, and SHELFWISE_API_KEY=a storefront key).
# README, "Speed".
bench-load: env
	$(BIN)/python -m benchmarks.loadtest --url http://127.0.0.1:$(PORT) --bare

# The experiment loop on the demo's workspace (after `make pipeline`): an A/B test of the
# champion against popularity driven by simulated shoppers, and a candidate offer policy
# valued on the logged decisions (docs/results.md, "Experiments").
bench-experiments: env
	$(BIN)/python -m benchmarks.experiments

# Ten minutes of mixed traffic at 80% of the running service's measured peak: errors, p99 and
# memory per minute (needs wrk and SHELFWISE_API_KEY=an admin key). README, "Trust".
soak: env
	$(BIN)/python -m benchmarks.soak --url http://127.0.0.1:$(PORT) --minutes 10 --out $(SHELFWISE_HOME)/soak

# Requests generated from the running service's OpenAPI for 10 minutes (schemathesis; needs
# SHELFWISE_API_KEY=an admin key). Changes stock and stores events: use a demo workspace.
fuzz-api: env
	$(BIN)/python -m benchmarks.fuzz --url http://127.0.0.1:$(PORT) --seconds 600

clean:
	rm -rf $(VENV) .shelfwise
