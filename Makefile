# memcap — two commands do everything: `make report` (the main job) and `make test`
# (`make test-fast`: the tests not marked slow, on every core: about a minute).
# All create ./.venv on first use and reuse it afterwards.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
RUN_STAMP := $(VENV)/.installed-run

.PHONY: all venv test test-fast report lint clean readme-check browser-check

all: report

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test,peers,dist]"
	touch $(STAMP) $(RUN_STAMP)

# what `make report` needs (the core and the peers): a first report does not wait for the test
# tools and Dask; `make test` adds them to the same .venv
$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[peers]"
	touch $(RUN_STAMP)

venv: $(STAMP)

test: $(STAMP)
	$(BIN)/ruff check kernels tests bench scripts
	$(BIN)/lint-imports --no-logo
	$(BIN)/python -m pytest -q

# one worker per core (pytest-xdist), each test file on one worker: a file's module fixtures are
# built once, and a kernel only its file uses is compiled once when the JIT cache is empty
test-fast: $(STAMP)
	$(BIN)/ruff check kernels tests bench scripts
	$(BIN)/lint-imports --no-logo
	$(BIN)/python -m pytest -q -m "not slow" -n auto --dist loadfile

report: $(RUN_STAMP)
	$(BIN)/memcap report --out reports/ $(if $(FRESH),--fresh)

# every unmarked shell command of README.md, in order, on a fresh clone (long: it runs them all);
# BROWSER=1: then every report it made in headless Chromium (scripts/browser_check.py)
readme-check:
	$(PYTHON) scripts/readme_check.py $(if $(BROWSER),--browser)

# reports/*.html and reports/*/index.html in headless Chromium at 1280 px: screenshots in reports/screenshots/, and no table
# or figure wider than the page (installs Debian's chromium when missing; not run by CI)
browser-check: $(STAMP)
	$(BIN)/python scripts/browser_check.py

lint: $(STAMP)
	$(BIN)/ruff check kernels tests bench scripts
	$(BIN)/lint-imports --no-logo

clean:
	rm -rf $(VENV) reports/*.html reports/*.json reports/*.csv reports/cache .pytest_cache .hypothesis
