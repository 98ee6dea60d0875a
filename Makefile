# Every target bootstraps .venv on first use (and again when pyproject.toml changes).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run demo test lint bench clean browser screenshots haproxy cluster

# The console's browser tests drive Debian's Chromium; install it only when it is missing.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

# numba's on-disk cache of the planning kernel, compiled again whenever its sources change.
WARM := $(VENV)/.kernel-warm
$(WARM): $(STAMP) $(wildcard csms/grid/kernel*.py) csms/grid/flow_start.py
	@echo "compiling the planning kernel into numba's cache (about 2 min, once)"
	$(BIN)/python -m csms.grid.warm
	touch $(WARM)

install: $(WARM)

run: $(WARM)
	$(BIN)/python cli.py serve

demo: $(WARM)
	$(BIN)/python cli.py demo

lint: $(WARM)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		{ $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium chromium-driver; }

# The cluster's load balancer (Debian's HAProxy), installed only when it is missing.
haproxy:
	@command -v haproxy >/dev/null || test -x /usr/sbin/haproxy || \
		{ $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q haproxy; }

# Three CSMS processes on PostgreSQL + Redis behind HAProxy: OCPP on 9000, API on 8080.
cluster: $(WARM) haproxy
	$(BIN)/python -m csms.cluster.local

test: lint browser haproxy
	$(BIN)/python -m pytest

# Screenshots of each console page for the README (docs/console-*.png).
screenshots: $(WARM) browser
	CSMS_CONSOLE_SCREENSHOTS=docs $(BIN)/python -m pytest tests/test_web_console.py -q

bench: $(WARM)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) csms.db csms.db-wal csms.db-shm
