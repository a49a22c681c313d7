# dsa110-ws: the two commands are `make run` (set up, then the main job) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
PORT ?= 8866

.PHONY: setup browser run demo test lint bench clean

TEMPLATE := $(VENV)/share/jupyter/voila/templates/dsa110

setup: $(STAMP) $(VENV)/etc/jupyter/voila.json $(TEMPLATE)/index.html.j2

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[all]'
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	$(PY) -m ipykernel install --sys-prefix --name dsa110-ws --display-name "DSA-110 workspace" >/dev/null
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

$(VENV)/etc/jupyter/voila.json: notebooks/dashboards/voila.json $(STAMP)  # what the wheel installs
	mkdir -p $(VENV)/etc/jupyter && cp notebooks/dashboards/voila.json $@

$(TEMPLATE)/index.html.j2: $(wildcard notebooks/dashboards/jupyter-data/voila/templates/dsa110/*) $(STAMP)  # also
	mkdir -p $(TEMPLATE) && cp notebooks/dashboards/jupyter-data/voila/templates/dsa110/* $(TEMPLATE)/

browser:  ## Debian's chromium for the Voila browser test (installed when missing)
	bash .ci/ensure-chromium

run: setup  ## main job: serve the operations dashboard over the demo state (Ctrl-C stops it)
	$(VENV)/bin/dsa110-ws info
	$(VENV)/bin/dsa110-ws dashboard --port $(PORT) --no-browser

test: setup browser  ## the whole test suite (what CI runs): types, lint, then pytest
	$(PY) -m mypy
	$(VENV)/bin/ruff check dsa110_ws tests benchmarks
	$(VENV)/bin/ruff format --check dsa110_ws
	$(PY) .ci/lint_tests.py tests  # no test that cannot fail
	$(PY) -m pytest

lint: setup  ## types, lint and format (part of make test)
	$(PY) -m mypy
	$(VENV)/bin/ruff check dsa110_ws tests benchmarks
	$(VENV)/bin/ruff format --check dsa110_ws
	$(PY) .ci/lint_tests.py tests

bench: setup  ## speed benchmarks: ratios against baselines of the same run, one closing table; fails on a miss
	@res=$$(mktemp); codes=""; \
	for b in benchmarks/bench_*.py; do \
	  echo "== $$b"; DSA110_BENCH_RESULTS=$$res $(PY) $$b; codes="$$codes $$(basename $$b .py)=$$?"; \
	done; \
	$(PY) benchmarks/_verdict.py summary $$res $$codes; rc=$$?; rm -f $$res; exit $$rc

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
