# The two commands a newcomer needs: `make demo` and `make test`.
# Both create (or reuse) .venv and install the pinned dependencies first.

PYTHON ?= python3
NPM ?= npm
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint squawk typecheck unit install clean

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

unit: $(STAMP)
	$(BIN)/pytest -q

clean:
	rm -rf $(VENV) node_modules .leadflow .pytest_cache .mypy_cache .ruff_cache
