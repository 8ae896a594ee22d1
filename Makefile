# GoReliable Notebooks. Two commands on a fresh Debian machine with Python 3.11:
#   make demo   set up, then produce every report from the bundled demo data (no server needed)
#   make test   set up (Debian packages included, as root), then run every test
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEBIAN_PACKAGES := prometheus victoria-metrics chromium poppler-utils
PYTEST_ARGS ?=
# Four workers on a 2-core machine: a quarter of the suite's wall is spent waiting (servers starting, kernels, a
# browser loading, faults' timeouts), which a third and fourth worker fill (cold caches: 13 min 10 s -> 11 min 57 s).
PYTEST_WORKERS ?= 4

.PHONY: help venv bytecode system-deps demo test lint unit lab stack-up stack-down stack-status demo-snapshot scraped-fixture bench strip clean

help:
	@echo "make demo           set up and produce every report from the bundled demo data into reports/"
	@echo "make test           set up (incl. Debian packages) and run lint, tests and notebook checks"
	@echo "make lab            JupyterLab on notebooks/ (127.0.0.1), pointed at the local stack (started, or the running"
	@echo "                    one reused); PROFILE=demo: the bundled demo instead, PROFILE=snapshot:PATH a snapshot,"
	@echo "                    PROFILE=live your servers (GORELIABLE_PROMETHEUS_URL, ...); LAB_ARGS=--dry-run prints it"
	@echo "make stack-up       start the local stack (Prometheus, S3, Kubecost on 127.0.0.1) and print its env"
	@echo "                    (TSDB=victoriametrics: VictoriaMetrics instead of Prometheus)"
	@echo "make stack-down     stop it"
	@echo "make demo-snapshot  re-record the bundled demo snapshot from the local stack"
	@echo "make scraped-fixture re-record tests/data/scraped: live targets scraped by Prometheus and VM (~23 min)"
	@echo "make bench          run the benchmarks in benchmarks/ (bench_slo_scale.py: BENCH_SLO_ARGS=--datasets 80,400 for a shorter run)"

venv: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python >= 3.11 is needed, found " + sys.version' \
	  || { echo "make: set PYTHON=/path/to/python3.11"; exit 2; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { echo "make: python3 -m venv failed (Debian: apt-get install -y python3-venv)"; exit 2; }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# The package's bytecode, compiled where Python would not write it itself (PYTHONDONTWRITEBYTECODE, as many container
# images and CI machines set): otherwise every process of a run (the command, each report's kernel) compiles the
# package's source again, 0.15-0.5 s each. Only what changed is compiled again.
bytecode: venv
	@$(BIN)/python -m compileall -q goreliable_lib

# Debian packages the tests need: installed when missing and we are root; otherwise say what to run.
system-deps:
	@missing=""; \
	command -v promtool >/dev/null && command -v prometheus >/dev/null || missing="$$missing prometheus"; \
	command -v victoria-metrics >/dev/null || missing="$$missing victoria-metrics"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v pdftotext >/dev/null && command -v pdfinfo >/dev/null && command -v pdftoppm >/dev/null \
	  || missing="$$missing poppler-utils"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "make: installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "make: missing Debian packages:$$missing -- run: sudo apt-get install -y$$missing"; exit 2; \
	  fi; \
	fi

demo: venv bytecode
	$(BIN)/goreliable report all
	$(BIN)/goreliable report run postmortem -f params/postmortem-demo.yaml
	$(BIN)/goreliable report run slo-review
	@echo "open reports/index.html"

lint: venv
	$(BIN)/ruff check goreliable_lib tests benchmarks notebooks
	$(BIN)/lint-imports

unit: venv
	$(BIN)/pytest -m "not stack" -q $(PYTEST_ARGS)

test: venv bytecode system-deps lint
	$(BIN)/pytest -q -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)
	GORELIABLE_PROFILE=demo GORELIABLE_CONFIG=/dev/null $(BIN)/pytest -q -p no:cacheprovider --nbval-lax --nbval-current-env notebooks/

# The lab's sources (goreliable lab --profile): stack (default; starts the local stack unless it is up, and it stays up:
# make stack-down), demo, snapshot:PATH or live. LAB_ARGS go to `goreliable lab` (e.g. --port 8899, --dry-run).
PROFILE ?= stack
LAB_ARGS ?=

lab: venv $(if $(filter stack,$(PROFILE)),system-deps)
	$(BIN)/goreliable lab --profile '$(PROFILE)' --tsdb $(TSDB) $(LAB_ARGS)

TSDB ?= prometheus

stack-up: venv system-deps
	$(BIN)/goreliable stack up --tsdb $(TSDB)

stack-down: venv
	$(BIN)/goreliable stack down

stack-status: venv
	$(BIN)/goreliable stack status

demo-snapshot: venv system-deps
	$(BIN)/goreliable demo record

# The SLO engine tests' scraped histories (tests/data/scraped/README.md): about 23 minutes of live scraping.
scraped-fixture: venv system-deps
	$(BIN)/python -m goreliable_lib.devstack.stack.scraping record tests/data/scraped

BENCH_SLO_ARGS ?= --datasets 80,400,1000,crash15

bench: venv system-deps
	$(BIN)/python benchmarks/bench_prometheus.py
	$(BIN)/python benchmarks/bench_reports.py
	$(BIN)/python benchmarks/bench_slo_scale.py $(BENCH_SLO_ARGS)
	$(BIN)/python benchmarks/bench_slo_archive.py

strip: venv
	$(BIN)/nbstripout notebooks/*.ipynb

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .goreliable test-artifacts
