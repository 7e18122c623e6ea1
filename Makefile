# relsim: two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench clean venv app app-screenshot

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,cluster,app]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/relsim demo

test: $(STAMP)
	$(PY) -m ruff check model experiments analysis tests benchmarks
	$(PY) -m pytest -n 2 -q

lint: $(STAMP)
	$(PY) -m ruff check model experiments analysis tests benchmarks

# The interactive explorer: prints its address (http://127.0.0.1:8765/); Ctrl+C stops it.
app: $(STAMP)
	$(VENV)/bin/relsim app

# Regenerates docs/app.png with headless Chromium (Debian: apt-get install chromium
# chromium-driver).
app-screenshot: $(STAMP)
	$(PY) docs/app_screenshot.py docs/app.png

bench: $(STAMP)
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) data/results data/demo
