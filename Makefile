# Two commands for a newcomer:  `make run` (set up + launch on the simulated model)
# and `make test` (set up + lint + type-check + the whole offline test suite).
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PYTHON ?= $(shell .ci/find-python)

.PHONY: run test lint typecheck pytest clean demo

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/fanout-studio $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check gui tests
	$(VENV)/bin/ruff format --check gui tests

typecheck: $(STAMP)
	$(VENV)/bin/mypy

pytest: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest $(PYTEST_ARGS)

test: lint typecheck pytest

clean:
	rm -rf $(VENV) build *.egg-info
