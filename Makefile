# The single entry point. Every target installs what it needs itself (uv from PyPI, then the
# locked environment), so a fresh machine needs only Python 3.11 and make.
SHELL := /bin/bash
TOOLS := .tools
UV := $(shell command -v uv 2>/dev/null || echo $(TOOLS)/bin/uv)

# `docker compose` (plugin) where the engine has it, else the standalone docker-compose.
COMPOSE = $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose)

.PHONY: run test test-unit test-integration test-images lint format bench asyncapi compose-wheels compose-up compose-down sync clean

$(TOOLS)/bin/uv:
	python3 -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv

sync: $(if $(findstring $(TOOLS),$(UV)),$(TOOLS)/bin/uv)
	$(UV) sync --frozen --quiet

run: sync
	$(UV) run --frozen slipway up

test: sync test-images
	$(UV) run --frozen pytest tests

test-unit: sync
	$(UV) run --frozen pytest tests/unit

test-integration: sync test-images
	$(UV) run --frozen pytest tests/integration

# The local base images (debootstrap + docker import, ~1-5 min once per machine, then instant),
# built before pytest so no single test's timeout has to cover a debootstrap.
test-images: sync
	$(UV) run --frozen python -m tests.support.images

lint: sync
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen mypy libs services slipway

format: sync
	$(UV) run --frozen ruff format .
	$(UV) run --frozen ruff check --fix .

bench: sync
	@for b in bench/*.py; do [ -e "$$b" ] || continue; echo "== $$b"; $(UV) run --frozen python $$b || exit 1; done

# The event contract (docs/asyncapi.json), generated from libs/events; a test fails when stale.
asyncapi: sync
	$(UV) run --frozen python -m slipway.asyncapi

# Wheels for the compose image, built on the host (TLS from inside containers here needs a CA
# bundle): the project's wheel plus every locked dependency, installed offline by deploy/Dockerfile.
compose-wheels: sync
	rm -rf deploy/wheels && mkdir -p deploy/wheels
	$(UV) build --wheel --out-dir deploy/wheels
	$(UV) export --quiet --frozen --no-dev --no-hashes --no-emit-project --format requirements-txt \
		--output-file deploy/wheels/requirements.txt
	$(UV) run --frozen --with pip python -m pip wheel --quiet --no-deps \
		--requirement deploy/wheels/requirements.txt --wheel-dir deploy/wheels pip

compose-up: compose-wheels
	$(COMPOSE) -f deploy/compose.yaml up -d --build

compose-down:
	$(COMPOSE) -f deploy/compose.yaml down

clean:
	rm -rf $(TOOLS) .venv .pytest_cache .mypy_cache .ruff_cache
