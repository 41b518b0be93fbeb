# Two commands on a fresh machine: `make demo` and `make test`. Both install what they need.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
AZURITE := .tools/node_modules/.bin/azurite-blob
AZURITE_VERSION := 3.37.0

.PHONY: venv tools browser test test-fast demo bench clean

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

demo: venv
	$(PY) -m emulators.demo --out out/demo

bench: venv
	$(PY) bench/load.py

clean:
	rm -rf out .pytest_cache
