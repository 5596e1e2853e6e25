# simreg: `make run` serves the API on the embedded SQLite file; `make test` runs every test on
# SQLite and on PostgreSQL. Works on a fresh Debian machine with Python 3.11+, make and root.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
SUDO   := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
APT    := DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get
PIP    := $(BIN)/pip --disable-pip-version-check

# The locks: every package pinned with its hashes, resolved for every platform from Python 3.11
# on. dev.txt (runtime and dev) is what make installs; runtime.txt, the same pins without the
# dev tools, is what the image installs. `make lock` re-resolves both within pyproject's bounds.
DEV_LOCK     := requirements/dev.txt
RUNTIME_LOCK := requirements/runtime.txt
UV_VERSION   := 0.13.9
LOCK_PYTHON  := 3.11
COMPILE      := $(BIN)/uv pip compile pyproject.toml --universal --python-version $(LOCK_PYTHON) \
                --generate-hashes --upgrade --quiet --custom-compile-command "make lock"

.PHONY: install lock run test test-sqlite test-postgres cluster loadtest fuzz lint format bench postgres \
        chromium clean

install: $(STAMP)

$(VENV)/pyvenv.cfg:
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
		echo "python3-venv is missing: installing it"; \
		$(APT) update -qq && $(APT) install -y -qq python3-venv python3-pip >/dev/null; \
		rm -rf $(VENV); $(PYTHON) -m venv $(VENV); }
	$(PIP) install -q --upgrade pip

# The pinned, hashed set first; then the project itself, which adds no package of its own.
$(STAMP): $(VENV)/pyvenv.cfg pyproject.toml $(DEV_LOCK)
	$(PIP) install -q --require-hashes -r $(DEV_LOCK)
	$(PIP) install -q --no-deps -e .
	@touch $(STAMP)

lock: $(VENV)/pyvenv.cfg
	$(PIP) install -q uv==$(UV_VERSION)
	$(COMPILE) --extra dev --output-file $(DEV_LOCK)
	$(COMPILE) --constraint $(DEV_LOCK) --output-file $(RUNTIME_LOCK)

run: install
	$(BIN)/simreg migrate
	$(BIN)/simreg demo --if-empty
	$(BIN)/simreg serve

# Debian's PostgreSQL server binaries, used by the test session to start a throwaway server.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || { \
		echo "PostgreSQL is missing: installing Debian's postgresql"; \
		$(APT) update -qq && $(APT) install -y -qq --no-install-recommends postgresql >/dev/null; }

# Debian's Chromium, which the page tests (tests/web) drive headless through Playwright; never
# `playwright install`. Cyrillic renders with fonts-dejavu-core, which fontconfig pulls in.
chromium:
	@[ -x /usr/bin/chromium ] || { \
		echo "Chromium is missing: installing Debian's chromium and chromium-driver"; \
		$(APT) update -qq && $(APT) install -y -qq --no-install-recommends \
			chromium chromium-driver >/dev/null; }

test: test-sqlite test-postgres

test-sqlite: install chromium
	SIMREG_TEST_ENGINE=sqlite $(BIN)/pytest -p no:cacheprovider

test-postgres: install postgres chromium
	SIMREG_TEST_ENGINE=postgresql $(BIN)/pytest -p no:cacheprovider

# The production topology on loopback: migrations once, two API processes, one scheduler.
cluster: install postgres
	SIMREG_TEST_ENGINE=postgresql $(BIN)/pytest -p no:cacheprovider -m cluster

# schemathesis over every operation of `simreg serve` on demo data, with a staff and an admin
# token: no answer may be a server error. Minutes, so not part of `make test`.
fuzz: install
	$(BIN)/python -m tests.fuzz

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install postgres
	$(BIN)/simreg bench all

# wrk against two API workers on a throwaway PostgreSQL: requests/s and p50/p99 per read.
loadtest: install postgres
	@command -v wrk >/dev/null 2>&1 || { echo "wrk is missing: installing Debian's wrk"; \
		$(APT) update -qq && $(APT) install -y -qq --no-install-recommends wrk >/dev/null; }
	$(BIN)/simreg bench loadtest

clean:
	rm -rf $(VENV) var/*.db var/*.db-* .mypy_cache .ruff_cache .pytest_cache
