# Jobs Console: `make run` serves it locally; `make test` runs the whole suite.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON := $(shell ./scripts/find-python)

# The suite runs against real PostgreSQL and Redis (see README: Tests).
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/jobsconsole
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: browser-check run test test-example faults lint format bench bench-scale clean install install-dev

$(VENV)/.runtime: requirements.txt
	@test -n "$(PYTHON)" || { ./scripts/find-python; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.runtime
install-dev: $(VENV)/.dev

## run: serve the console with a worker and beat at http://127.0.0.1:8000
run: $(VENV)/.runtime
	SECRET_KEY=$${SECRET_KEY:-$$(./scripts/local-secret-key)} $(PY) manage.py runconsole

## test: the whole suite on PostgreSQL, Redis, Celery workers and Chromium, then the example project's
test: browser-check $(VENV)/.dev
	SECRET_KEY=$${SECRET_KEY:-$$(./scripts/local-secret-key)} DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} \
		$(PY) -m pytest $(PYTEST_ARGS)
	$(MAKE) test-example

# Before anything is installed, so that a machine without Chromium hears it at once.
browser-check:
	@./scripts/need-chromium

## test-example: the shop of examples/ with the app, on its own Celery workers (and a fresh pip install)
test-example: $(VENV)/.dev
	cd examples/shop && PYTHONPATH=$(CURDIR) \
		DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} \
		$(CURDIR)/$(PY) -m pytest $(EXAMPLE_PYTEST_ARGS)

## faults: the fault suite alone (tests marked faults; make test runs them too)
faults: $(VENV)/.dev
	SECRET_KEY=$${SECRET_KEY:-$$(./scripts/local-secret-key)} DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} \
		$(PY) -m pytest -m faults $(PYTEST_ARGS)

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	SECRET_KEY=$${SECRET_KEY:-$$(./scripts/local-secret-key)} $(PY) -m mypy
	SECRET_KEY=$${SECRET_KEY:-$$(./scripts/local-secret-key)} $(PY) manage.py makemigrations --check --dry-run

format: $(VENV)/.dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

## bench: the benchmarks of benchmarks/README.md
bench: $(VENV)/.dev
	SECRET_KEY=$${SECRET_KEY:-$$(./scripts/local-secret-key)} DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} \
		$(PY) benchmarks/run.py

## bench-scale: every page and endpoint at 10,000 and 1,000,000 jobs (benchmarks/scale.py)
bench-scale: $(VENV)/.dev
	SECRET_KEY=$${SECRET_KEY:-$$(./scripts/local-secret-key)} DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} $(PY) benchmarks/scale.py

clean:
	rm -rf var .pytest_cache
