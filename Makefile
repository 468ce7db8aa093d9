# The README's two commands: `make run` and `make test`. Both create and reuse .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck format check openapi bench deploy-check lock clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -c constraints.txt -e '.[dev]'
	touch $(STAMP)

## run: the whole local stack (stand-ins in two regions, bff_mobile on :8080, bff_web on :8081); Ctrl-C stops it
run: $(STAMP)
	$(BIN)/bff stack

## test: lint, type-check and the whole test suite
test: $(STAMP) check
	$(BIN)/pytest

check: lint typecheck

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## openapi: refresh the committed API references (OpenAPI, GraphQL SDL) after an additive change
openapi: $(STAMP)
	$(BIN)/bff openapi mobile > docs/api/bff_mobile.openapi.json
	$(BIN)/bff openapi web > docs/api/bff_web.openapi.json
	$(BIN)/python -c "from bff_web.graphql.schema import sdl; print(sdl(), end='')" > docs/api/bff_web.graphql

## bench: the side-by-side /v1/home benchmark (see bench/README.md)
bench: $(STAMP)
	$(BIN)/python bench/run_home.py

## lock: re-pin constraints.txt from pyproject.toml
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 -o constraints.txt

## deploy-check: render and validate every Kubernetes overlay, scan manifests and image
deploy-check: $(STAMP)
	scripts/validate-deploy.sh

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis
