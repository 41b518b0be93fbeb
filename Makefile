# Two commands on a fresh machine: `make demo` and `make test`. Both install what they need.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
AZURITE := .tools/node_modules/.bin/azurite-blob
AZURITE_VERSION := 3.37.0

.PHONY: venv tools browser test test-fast demo demo-rollback bench bench-all clean

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt
	touch $@

tools: $(AZURITE) browser

$(AZURITE):
	@command -v npm >/dev/null 2>&1 || (apt-get update -q && apt-get install -y -q npm)
	npm install --no-audit --no-fund --loglevel=error --prefix .tools azurite@$(AZURITE_VERSION)

# Debian's Chromium + ChromeDriver for the review page's browser test (no browser download of its own);
# where they cannot be installed the test skips, saying so.
browser:
	@(command -v chromium && command -v chromedriver) >/dev/null 2>&1 || \
	  (apt-get update -q && apt-get install -y -q chromium chromium-driver) || \
	  echo "chromium could not be installed: the review page's browser test will be skipped"

test: venv tools
	$(PY) -m pytest

test-fast: venv
	$(PY) -m pytest -m "not slow and not azurite"

# make demo SOURCE=work4all: the German work4all vendor export instead of WORKetc's
SOURCE ?= worketc
demo: venv
	$(PY) -m emulators.demo --out out/demo --source $(SOURCE)

# the demo, then its rollback (python -m cli rollback): every table compared with its state before the run
demo-rollback: venv
	$(PY) -m emulators.demo --out out/demo --source $(SOURCE) --rollback

bench: venv
	$(PY) bench/load.py

# the loader bench, then extract + transform at 1,000,000 rows and a whole ~200,000-record migration
# (1 and 2 application users, time scale 0.25): about an hour on 2 cores
bench-all: bench
	$(PY) bench/extract_transform.py --json out/bench/extract_transform.json
	$(PY) bench/migration.py --json out/bench/migration.json

clean:
	rm -rf out .pytest_cache
