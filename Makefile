# levtop: the commands a newcomer needs. Each target creates .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-test

.PHONY: test demo run bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall only when the package metadata changed, so `make test` is quick when up to date.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q

# The monitor on the built-in simulator: no network, no keys.
demo: $(STAMP)
	$(BIN)/levtop --demo

# The live monitor against the real exchanges (config: `levtop config path`).
run: $(STAMP)
	$(BIN)/levtop

# Every performance budget of benchmarks/README.md, measured; results in benchmarks/results.json.
bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) build dist tui/*.egg-info .pytest_cache
