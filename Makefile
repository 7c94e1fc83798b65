# custom-gpt-adapter — developer entry points. `make help` lists them.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

UV_VERSION ?= 0.13.9
VENV := .venv
UV := $(shell command -v uv 2>/dev/null)
PYTEST_ARGS ?=

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

.PHONY: system-deps
system-deps: ## install PostgreSQL and Redis server binaries with apt-get when missing
	@bash scripts/dev/system-deps.sh

.PHONY: uv
uv:
	@command -v uv >/dev/null 2>&1 || python3 -m pip install --quiet "uv==$(UV_VERSION)"

$(VENV)/.synced: uv.lock pyproject.toml libs/*/pyproject.toml services/*/pyproject.toml
	@$(MAKE) --no-print-directory uv
	uv sync --frozen
	@touch $@

.PHONY: install
install: $(VENV)/.synced ## create the virtualenv and install every service (locked)

.PHONY: dev
dev: system-deps install ## start PostgreSQL, Redis and all four services in the foreground
	@bash scripts/dev/run.sh

.PHONY: dev-down
dev-down: ## stop leftovers of `make dev`
	-@pkill -f '$(CURDIR)/$(VENV)/bin/cga-' 2>/dev/null || true
	-@$(VENV)/bin/cga-devstack down 2>/dev/null || true

.PHONY: migrate
migrate: install ## apply database migrations (CGA_DATABASE_URL)
	$(VENV)/bin/cga-migrate upgrade head

.PHONY: openapi
openapi: install ## write the Actions OpenAPI document to docs/api/openapi.json
	$(VENV)/bin/python -m cga_gateway.openapi docs/api/openapi.json

.PHONY: test
test: system-deps install chart-tools ## run the test suite (starts its own PostgreSQL and Redis)
	$(VENV)/bin/pytest $(PYTEST_ARGS)

.PHONY: alert-test
alert-test: system-deps install ## live alert pipeline: failing Memory Bank -> Prometheus -> Alertmanager -> page
	$(VENV)/bin/pytest tests/monitoring/test_alert_pipeline.py -s $(PYTEST_ARGS)

# k6 load scenarios (load/k6). Each run starts a private stack of its own and keeps its record
# (summary.json, service logs) under load/k6/results/; LOAD_* variables tune the scenario.
SCENARIO ?= smoke
K6_ARGS ?=

.PHONY: k6
k6: system-deps install ## run one k6 scenario on a private stack (SCENARIO=smoke|load|spike|soak|rate-limit)
	$(VENV)/bin/python -m scripts.load.run_k6 $(SCENARIO) -- $(K6_ARGS)

.PHONY: k6-smoke
k6-smoke: ## run the k6 smoke scenario: every endpoint, real tokens, ~15 s
	@$(MAKE) --no-print-directory k6 SCENARIO=smoke

# Resilience under load (scripts/chaos): k6 drives a private stack while the worker is killed,
# Redis stopped, the Memory Bank failed and PostgreSQL restarted; every accepted write must be
# stored exactly once. ~5 minutes; CHAOS_ARGS tune it (`python -m scripts.chaos.run --help`).
CHAOS_ARGS ?=

.PHONY: chaos
chaos: system-deps install ## faults under k6 load; results in docs/performance.md (chaos), exit 1 on a lost write
	$(VENV)/bin/python -m scripts.chaos.run $(CHAOS_ARGS)

# Every performance figure with its in-run baseline and goal (scripts/bench), written to the
# bench section of docs/performance.md and docs/performance/bench.json. ~10 minutes; BENCH_*
# variables tune it (scripts/bench/settings.py, e.g. BENCH_SECONDS=20). Never part of `make test`.
.PHONY: bench
bench: system-deps install ## measure every performance figure against its goal (~10 min) into docs/performance.md
	$(VENV)/bin/python -m scripts.bench.run

# The chart's validators from npm, pinned by scripts/chart/package-lock.json, under .tools/.
TOOLS := .tools
$(TOOLS)/node_modules/.package-lock.json: scripts/chart/package.json scripts/chart/package-lock.json
	@mkdir -p $(TOOLS)
	cp scripts/chart/package.json scripts/chart/package-lock.json $(TOOLS)/
	npm ci --prefix $(TOOLS) --no-audit --no-fund --loglevel=error

.PHONY: chart-tools
chart-tools: $(TOOLS)/node_modules/.package-lock.json ## install the chart validators (npm ci into .tools/)

.PHONY: chart-check
chart-check: install chart-tools ## render, lint and validate the Helm chart offline (schemas, CRDs, checkov)
	$(VENV)/bin/python -m scripts.chart.check

.PHONY: image-check
image-check: install ## lint the Dockerfile (hadolint, checkov)
	$(VENV)/bin/hadolint Dockerfile
	$(VENV)/bin/checkov --framework dockerfile --file Dockerfile --skip-download --quiet --compact

.PHONY: chart-docs
chart-docs: install ## regenerate the table of values in the chart's README from values.yaml
	$(VENV)/bin/python -m scripts.chart.values_doc

.PHONY: deploy-dry-run
deploy-dry-run: install ## render and validate the production release offline, print its helm command
	bash scripts/deploy/deploy.sh --dry-run --values k8s/overlays/prod/values-prod.yaml

.PHONY: config-docs
config-docs: install ## regenerate docs/configuration.md and .env.production.example from the settings
	$(VENV)/bin/python scripts/config/reference.py

.PHONY: dashboards
dashboards: install ## regenerate the Grafana dashboards in monitoring/grafana/dashboards/
	$(VENV)/bin/python -m monitoring.grafana.generate

.PHONY: runbook-check
runbook-check: install ## check docs/runbooks: a runbook per alert, sections, index, real commands
	$(VENV)/bin/python -m scripts.monitoring.check_runbooks

.PHONY: rules-check
rules-check: install ## alert rules: promtool check + unit tests, amtool config + routes, chart copies
	$(VENV)/bin/python -m scripts.monitoring.rules_check

.PHONY: monitoring-sync
monitoring-sync: install ## copy the alert rules and Grafana dashboards into the chart's files/
	$(VENV)/bin/python -m scripts.monitoring.chart_files

.PHONY: lint
lint: install ## ruff (format + lint) and mypy (strict)
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy libs services tests scripts/chart scripts/deploy scripts/config scripts/load scripts/chaos scripts/bench scripts/perf monitoring/grafana scripts/monitoring

.PHONY: format
format: install ## apply ruff formatting and safe fixes
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

.PHONY: clean
clean: ## remove the virtualenv and local data
	rm -rf $(VENV) .dev .mypy_cache .ruff_cache $(TOOLS)
