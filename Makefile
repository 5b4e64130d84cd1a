# The two commands a newcomer needs: `make demo` and `make test`.
# Both create (or reuse) .venv and install the pinned dependencies first.

PYTHON ?= python3
NPM ?= npm
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint squawk typecheck unit install sql-tools browser screenshot clean

demo: $(STAMP)
	$(BIN)/leadflow demo

test: lint typecheck unit

install: $(STAMP)

$(STAMP): pyproject.toml tools/pyproject.toml constraints.txt package.json package-lock.json
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Leadflow needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]' -e ./tools
	@command -v $(NPM) >/dev/null || { echo "make install needs npm (Node 18+) for the pinned Supabase CLI"; exit 1; }
	$(NPM) ci --no-audit --no-fund --ignore-scripts --loglevel=error
	touch $(STAMP)

lint: $(STAMP) squawk
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

# squawk (migration linter) over supabase/migrations/, in three groups; every
# rule left out is justified in docs/DEPLOY.md ("squawk: the ignore list").
MIGRATIONS := supabase/migrations
# Files run outside a transaction (a CONCURRENTLY build and its session settings).
CONCURRENT := $(shell grep -lisE '^ *(create|drop) +(unique +)?index +concurrently' $(MIGRATIONS)/*.sql)
TRANSACTIONAL := $(filter-out $(CONCURRENT),$(wildcard $(MIGRATIONS)/*.sql))
SQUAWK := $(BIN)/squawk --pg-version=15.0 --reporter=gcc

squawk: $(STAMP)
	$(SQUAWK) --assume-in-transaction --exclude=prefer-bigint-over-int $(TRANSACTIONAL)
	$(SQUAWK) $(CONCURRENT)

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP) sql-tools
	$(BIN)/pytest -q

# Debian's Postgres 15 with pgTAP and plpgsql_check: tests/sql runs the specifications of
# supabase/tests/ on it and on the embedded server, and plpgsql_check on it. Installed with
# apt when root (as CI is); otherwise this says how, and those tests fail with the same words.
PG15_PACKAGES := postgresql-15 postgresql-15-pgtap postgresql-15-plpgsql-check
PG15_FILES := /usr/lib/postgresql/15/bin/postgres /usr/share/postgresql/15/extension/pgtap.control \
	/usr/share/postgresql/15/extension/plpgsql_check.control

sql-tools:
	@missing=""; for f in $(PG15_FILES); do [ -e "$$f" ] || missing="$$missing $$f"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "sql-tools: installing $(PG15_PACKAGES)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(PG15_PACKAGES) >/dev/null; \
	else \
		echo "sql-tools: missing$$missing"; \
		echo "sql-tools: run 'sudo make sql-tools' (apt-get install $(PG15_PACKAGES)); until then tests/sql fails"; \
	fi

# docs/report.png: the demo's report as a real browser draws it (chromium headless, from
# Debian: installed with apt when root, as sql-tools does; otherwise this says how). The
# demo database is built on first use (about two minutes) and reused after.
CHROMIUM ?= chromium
SCREENSHOT_SIZE ?= 1400,2200

browser:
	@if command -v $(CHROMIUM) >/dev/null; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "browser: installing chromium"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core >/dev/null; \
	else \
		echo "browser: run 'sudo make browser' (apt-get install chromium fonts-dejavu-core)"; exit 1; \
	fi

screenshot: $(STAMP) browser
	$(BIN)/leadflow demo >/dev/null
	$(CHROMIUM) --headless --no-sandbox --disable-gpu --hide-scrollbars \
		--window-size=$(SCREENSHOT_SIZE) --virtual-time-budget=20000 \
		--screenshot=$(CURDIR)/docs/report.png file://$(CURDIR)/.leadflow/reports/report.html 2>/dev/null
	@echo "docs/report.png: the demo's report ($$(du -h .leadflow/reports/report.html | cut -f1)) as chromium draws it"

clean:
	rm -rf $(VENV) node_modules .leadflow .pytest_cache .mypy_cache .ruff_cache
