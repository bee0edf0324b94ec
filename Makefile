# memcap — two commands do everything: `make report` (the main job) and `make test`
# (`make test-fast`: the tests not marked slow, about a minute).
# All create ./.venv on first use and reuse it afterwards.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: all venv test test-fast report lint clean

all: report

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test,peers,dist]"
	touch $(STAMP)

venv: $(STAMP)

test: $(STAMP)
	$(BIN)/ruff check kernels tests bench scripts
	$(BIN)/lint-imports --no-logo
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)
	$(BIN)/ruff check kernels tests bench scripts
	$(BIN)/lint-imports --no-logo
	$(BIN)/python -m pytest -q -m "not slow"

report: $(STAMP)
	$(BIN)/memcap report --out reports/ $(if $(FRESH),--fresh)

lint: $(STAMP)
	$(BIN)/ruff check kernels tests bench scripts
	$(BIN)/lint-imports --no-logo

clean:
	rm -rf $(VENV) reports/*.html reports/*.json reports/*.csv reports/cache .pytest_cache .hypothesis
