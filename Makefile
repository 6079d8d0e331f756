# Two commands for a newcomer:  `make run` (set up + launch on the simulated model)
# and `make test` (set up + lint + type-check + the whole offline test suite).
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PYTHON ?= $(shell .ci/find-python)

# Qt's xcb plugin and a virtual screen for the real-window test; best effort (the test skips
# with its reason when they are missing and cannot be installed, e.g. not root).
XVFB_DEBS := xvfb imagemagick libxcb-cursor0 libxkbcommon-x11-0 libxcb-icccm4 libxcb-image0 \
	libxcb-keysyms1 libxcb-render-util0 libxcb-xinerama0 libxcb-shape0 libxcb-xkb1 libegl1 \
	libgl1 libfontconfig1 libdbus-1-3 fonts-dejavu-core

.PHONY: run test lint typecheck pytest clean xvfb

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
	$(VENV)/bin/lint-imports --no-cache

typecheck: $(STAMP)
	$(VENV)/bin/mypy

# The suite on PYTEST_WORKERS processes (pytest-xdist); `make pytest PYTEST_WORKERS=0` runs it in
# this one process. `--dist load` hands out single tests in the suite's order, so each worker
# runs its share in the same order as a single process would (engine and command-line tests
# before window tests). Not loadfile: it starts with the files holding the most tests, and a
# command-line test then ran after window tests in a process whose leftover Qt events crashed
# it. Not loadgroup: with pytest 9.2, xdist 3.8 silently drops xdist_group marks. A module
# fixture (test_packaging.py's wheel) is built once per worker that runs one of its tests.
PYTEST_WORKERS ?= 2

pytest: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -n $(PYTEST_WORKERS) --dist load $(PYTEST_ARGS)

xvfb:
	@if command -v Xvfb >/dev/null && command -v import >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Xvfb for the real-window test"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(XVFB_DEBS)) >/dev/null 2>&1 \
			|| echo "could not install Xvfb: the real-window test will skip"; \
	else echo "no Xvfb and not root: the real-window test will skip"; fi

test: lint typecheck xvfb pytest

clean:
	rm -rf $(VENV) build *.egg-info
